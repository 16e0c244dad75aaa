"""seqray: raw sequencing data to clean reads, k-mer tokens and embeddings, on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "read_fastq", "read_fasta", "read_bam", "read_reads"]

if TYPE_CHECKING:
    from .io.datasource import read_bam, read_fasta, read_fastq, read_reads


def __getattr__(name: str) -> Any:
    # Ray is imported only when a dataset is asked for: the CLI's quick paths stay fast.
    if name in ("read_fastq", "read_fasta", "read_bam", "read_reads"):
        from .io import datasource

        return getattr(datasource, name)
    raise AttributeError(name)
