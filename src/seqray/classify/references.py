"""Reference genomes for training, read whole into memory: `LABEL=FASTA` files (a file of
many records is one label), or one label per record (its name's first word).

Read with seqray's own readers (any supported format and compression, local or s3://), so a
bad record is reported with its file and record number. Sequences are kept as upper-case
ACGTN (`fragments.References`), which is what fragments are sampled from and what the
vocabulary is counted over.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, InputError
from ..io.buffers import values_offsets
from ..io.readers import open_chunk
from ..io.schema import NAME, SEQ
from ..io.sources import plan_chunks
from .fragments import References
from .model import UNCLASSIFIED


def parse_reference(text: str, label_per_record: bool) -> tuple[str, str]:
    """`LABEL=PATH` → (label, path); a bare PATH is allowed with --label-per-record (its
    records name the labels; the file's name groups them)."""
    label, sep, path = text.partition("=")
    if sep and label and path and "/" not in label:
        return label, path
    if label_per_record:
        return "", text
    raise ConfigError(
        f"--reference {text!r}: expected LABEL=FASTA (or a FASTA with --label-per-record)"
    )


def check_label(label: str, where: str) -> None:
    if not label or label != label.strip() or label == UNCLASSIFIED:
        raise ConfigError(
            f"{where}: {label!r} cannot be a label (empty, padded with spaces, or "
            f"{UNCLASSIFIED!r}, which is the label of reads below --min-score)"
        )


def load_references(
    references: dict[str, list[str]], label_per_record: bool, extra_labels: list[str] = ()
) -> References:
    """The sequences of every reference file, labelled by their key (or with
    `label_per_record`, by each record's name); `extra_labels` (from a labels TSV) join the
    label list even without a reference."""
    groups: list[tuple[str, pa.Array, pa.Array]] = []  # (key, names, sequences)
    for key in sorted(references):
        for path in references[key]:
            chunks, _ = plan_chunks([path], None, chunk_bytes=1 << 40)
            tables = [t for ch in chunks for t in open_chunk(ch)]
            if not tables or not sum(len(t) for t in tables):
                raise InputError(f"{path}: no sequences (reference for label {key or '?'})")
            t = pa.concat_tables(tables)
            groups.append((key, t.column(NAME), t.column(SEQ)))
    record_labels_txt: list[np.ndarray] = []
    seqs: list[pa.ChunkedArray] = []
    for key, names, seq in groups:
        if label_per_record:
            first = pc.list_element(pc.utf8_split_whitespace(names.cast(pa.large_string()), 1), 0)
            record_labels_txt.append(np.asarray(first.to_pylist(), dtype=object))
        else:
            record_labels_txt.append(np.full(len(seq), key, dtype=object))
        seqs.append(seq)
    per_record = np.concatenate(record_labels_txt) if record_labels_txt else np.empty(0, object)
    labels = sorted({*per_record.tolist(), *extra_labels})
    for label in labels:
        check_label(label, "reference label")
    index = {lab: i for i, lab in enumerate(labels)}
    record_labels = np.array([index[x] for x in per_record], np.int32)  # one per record
    if seqs:
        column = pa.chunked_array([c for s in seqs for c in s.chunks], pa.large_binary())
        values, offsets = values_offsets(column)
    else:
        values, offsets = np.empty(0, np.uint8), np.zeros(1, np.int64)
    return References.build(values, offsets, record_labels, labels)
