"""SAM/BAM records ↔ Arrow read batches (pysam)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .schema import read_schema, record_column, source_column

_COMPLEMENT = bytes.maketrans(b"ACGTNRYSWKMBDHVacgtn", b"TGCANYRSWMKVHDBtgcan")


def records_to_table(alignments: list, source: str, first_record: int) -> pa.Table:
    """One row per primary record; reverse-strand reads turned back to sequencing order.

    pysam hands records over one at a time, so this loop is bounded by pysam's own cost."""
    names, seqs, quals = [], [], []
    for a in alignments:
        seq = (a.query_sequence or "").upper().encode()
        q = a.query_qualities
        if q is not None:
            qual = (np.asarray(q, dtype=np.uint8) + 33).tobytes()
        else:
            qual = b"" if not seq else None  # pysam gives no qualities for an empty read
        if a.is_reverse:
            seq = seq.translate(_COMPLEMENT)[::-1]
            qual = qual[::-1] if qual is not None else None
        names.append(a.query_name)
        seqs.append(seq)
        quals.append(qual)
    n = len(names)
    return pa.Table.from_arrays(
        [
            pa.array(names, pa.large_string()),
            pa.array(seqs, pa.large_binary()),
            pa.array(quals, pa.large_binary()),
            source_column(source, n),
            record_column(first_record, n),
        ],
        schema=read_schema(False),
    )
