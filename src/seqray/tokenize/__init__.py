"""Tokenizers: DNABERT k-mers, Nucleotide-Transformer 6-mers, characters, BPE, hashed
k-mers and proteins; windowing to max_length; Hugging Face export (see docs/tokenizers.md)."""

from __future__ import annotations

# the scheme modules: importing one registers its schemes (seqray.tokenize.registry), and
# the package imports them all before any of its modules is used; a new one is added here
from . import bpe, schemes  # noqa: F401  (imported for their registrations)
from .base import Tokenizer
from .bpe import BPETokenizer
from .hf_export import load_tokenizer
from .registry import make_tokenizer, scheme_class, scheme_names
from .schemes import (
    CharTokenizer,
    HashedTokenizer,
    KmerTokenizer,
    NT6Tokenizer,
    ProteinTokenizer,
)

__all__ = [
    "BPETokenizer",
    "CharTokenizer",
    "HashedTokenizer",
    "KmerTokenizer",
    "NT6Tokenizer",
    "ProteinTokenizer",
    "Tokenizer",
    "load_tokenizer",
    "make_tokenizer",
    "scheme_class",
    "scheme_names",
]
