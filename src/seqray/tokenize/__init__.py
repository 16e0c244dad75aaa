"""Tokenizers: DNABERT k-mers, Nucleotide-Transformer 6-mers, characters, BPE, hashed
k-mers and proteins; windowing to max_length; Hugging Face export (see docs/tokenizers.md)."""

from __future__ import annotations

from .hf_export import load_tokenizer
from .schemes import (
    CharTokenizer,
    HashedTokenizer,
    KmerTokenizer,
    NT6Tokenizer,
    ProteinTokenizer,
    Tokenizer,
    make_tokenizer,
)

__all__ = [
    "CharTokenizer",
    "HashedTokenizer",
    "KmerTokenizer",
    "NT6Tokenizer",
    "ProteinTokenizer",
    "Tokenizer",
    "load_tokenizer",
    "make_tokenizer",
]
