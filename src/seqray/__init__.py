"""seqray: raw sequencing data to clean reads, k-mer tokens and embeddings, on Ray."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "read_fastq", "read_fasta", "read_bam", "read_reads"]


def __getattr__(name):
    # Ray is imported only when a dataset is asked for: the CLI's quick paths stay fast.
    if name in ("read_fastq", "read_fasta", "read_bam", "read_reads"):
        from .io import datasource

        return getattr(datasource, name)
    raise AttributeError(name)
