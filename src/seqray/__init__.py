"""seqray: raw sequencing data to clean reads, k-mer tokens and embeddings, on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:  # written from the git tags at install time (setuptools-scm; see pyproject.toml)
    from ._version import version as __version__
except ImportError:  # a source tree on sys.path, never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    "versions",
    "read_fastq",
    "read_fasta",
    "read_bam",
    "read_reads",
    "load_embeddings",
]

# what a bug report needs besides seqray's own version (`seqray --version`, the manifest)
_COMPONENTS = ("ray", "pyarrow", "numba")

if TYPE_CHECKING:
    from .io.datasource import read_bam, read_fasta, read_fastq, read_reads
    from .io.load_embeddings import load_embeddings


def versions() -> dict[str, str]:
    """seqray's version and those of Python, Ray, pyarrow and numba, as installed. Read from
    the packages' metadata: nothing is imported (`seqray --version` stays instant)."""
    import platform
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _dist_version

    out = {"seqray": __version__, "python": platform.python_version()}
    for name in _COMPONENTS:
        try:
            out[name] = _dist_version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def __getattr__(name: str) -> Any:
    # Ray is imported only when a dataset is asked for: the CLI's quick paths stay fast.
    if name in ("read_fastq", "read_fasta", "read_bam", "read_reads"):
        from .io import datasource

        return getattr(datasource, name)
    if name == "load_embeddings":  # a run's array output, read back (no Ray needed)
        from .io.load_embeddings import load_embeddings

        return load_embeddings
    raise AttributeError(name)
