"""SAM/BAM records (pysam) → Arrow read batches.

Header lines come back whole from the tags seqray's BAM writer sets (io/formats/bam.py): the
local tag `hx:H:` (the header's UTF-8 bytes in hex) if present, else QNAME, a space and
the `CO:Z:` comment if present (samtools' convention, so BAMs from `samtools import -T CO`
give their comments back too), else QNAME alone."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..errors import FormatError
from .schema import read_schema, record_column, source_column

_COMPLEMENT = bytes.maketrans(b"ACGTNRYSWKMBDHVacgtn", b"TGCANYRSWMKVHDBtgcan")


def header_line(a) -> str:
    """The read's whole header line (what follows '@' in FASTQ)."""
    if a.has_tag("hx"):
        return bytes.fromhex(a.get_tag("hx")).decode("utf-8")
    name = a.query_name or ""
    if a.has_tag("CO"):
        return f"{name} {a.get_tag('CO')}"
    return name


def _read(a) -> tuple[str, bytes, bytes | None]:
    seq = (a.query_sequence or "").upper().encode()
    q = a.query_qualities
    qual = (np.asarray(q, dtype=np.uint8) + 33).tobytes() if q is not None else None
    if a.is_reverse:
        seq = seq.translate(_COMPLEMENT)[::-1]
        qual = qual[::-1] if qual is not None else None
    return header_line(a), seq, qual


def _quals(seqs: list[bytes], quals: list[bytes | None]) -> list[bytes | None]:
    """pysam gives no qualities for an empty read: b"" unless the batch's other reads
    have none either (FASTA), so a batch is all qualities or all nulls where it can be."""
    none = any(q is None for s, q in zip(seqs, quals) if s)
    return [None if (q is None and (none or s)) else (b"" if q is None else q)
            for s, q in zip(seqs, quals)]  # fmt: skip


def records_to_table(
    alignments: list, source: str, first_record: int, paired: bool = False
) -> pa.Table:
    """One row per primary record, or per pair (read 1 then read 2) when `paired`;
    reverse-strand reads turned back to sequencing order.

    pysam hands records over one at a time, so this loop is bounded by pysam's own cost."""
    mates = [alignments[0::2], alignments[1::2]] if paired else [alignments]
    cols = []
    for recs in mates:
        names, seqs, quals = zip(*(_read(a) for a in recs)) if recs else ((), (), ())
        cols += [
            pa.array(list(names), pa.large_string()),
            pa.array(list(seqs), pa.large_binary()),
            pa.array(_quals(list(seqs), list(quals)), pa.large_binary()),
        ]
    n = len(mates[0])
    return pa.Table.from_arrays(
        [*cols, source_column(source, n), record_column(first_record, n)],
        schema=read_schema(paired),
    )


def check_mate(a, index: int, source: str) -> None:
    """In a paired BAM read as pairs, record `index` (0-based, primary records only) must
    be read 1 for even indices and read 2 for odd ones."""
    want = 0x40 if index % 2 == 0 else 0x80
    if a.flag & 0xC1 != 0x1 | want:
        which = "read 1" if want == 0x40 else "read 2"
        raise FormatError(
            f"paired BAM: expected {which} of a pair (flag 0x{0x1 | want:x}) here, "
            f"found flag 0x{a.flag:x}; records of a pair must follow each other",
            path=source,
            record=index + 1,
        )
