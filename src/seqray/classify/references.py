"""Reference genomes for training, read whole into memory: `LABEL=FASTA` files (a file of
many records is one label), or one label per record (its name's first word).

Read with seqray's own readers (any supported format and compression, local or s3://), so a
bad record is reported with its file and record number. Sequences are kept as upper-case
ACGTN (`fragments.References`), which is what fragments are sampled from and what the
vocabulary is counted over.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, InputError
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
    references: dict[str, list[str]], label_per_record: bool, extra_labels: Sequence[str] = ()
) -> References:
    """The sequences of every reference file, labelled by their key (or with
    `label_per_record`, by each record's name); `extra_labels` (from a labels TSV) join the
    label list even without a reference. Labels are sorted."""
    by_label: dict[str, list[bytes]] = {label: [] for label in extra_labels}
    for key in sorted(references):
        for path in references[key]:
            chunks, _ = plan_chunks([path], None, chunk_bytes=1 << 40)
            tables = [t for ch in chunks for t in open_chunk(ch)]
            if not sum(len(t) for t in tables):
                raise InputError(f"{path}: no sequences (a reference of label {key!r})")
            t = pa.concat_tables(tables)
            seqs = t.column(SEQ).to_pylist()
            if label_per_record:
                names = t.column(NAME).cast(pa.large_string())
                first = pc.list_element(
                    pc.utf8_split_whitespace(names, max_splits=1), 0
                ).to_pylist()
                for name, seq in zip(first, seqs, strict=True):
                    by_label.setdefault(name or "", []).append(seq)
            else:
                by_label.setdefault(key, []).extend(seqs)
    for label in by_label:
        check_label(label, "reference label")
    return References.build((label, by_label[label]) for label in sorted(by_label))
