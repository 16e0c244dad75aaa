"""Tiny randomly initialised Hugging Face models and tokenizers, saved as a model directory
(`save_pretrained`), seeded: a DNABERT-style BERT (3-mer vocabulary, space-separated
k-mers), an ESM model with ESM's own vocabulary, and a ProtBERT-style BERT (residues
separated by spaces). Small position tables, so long sequences need windows."""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertTokenizer,
    EsmConfig,
    EsmModel,
    EsmTokenizer,
)

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ESM_TOKENS = [
    "<cls>", "<pad>", "<eos>", "<unk>",
    *"LAGVSERTIDPKQNFYMHWCXBUZO.-",
    "<null_1>", "<mask>",
]  # fmt: skip
PROTBERT_RESIDUES = "LAGVESIKRDTPNQFYMHCWXUBZO"
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 64}  # fmt: skip


def dnabert_kmers(k: int) -> list[str]:
    return ["".join(p) for p in itertools.product("ATCG", repeat=k)]


def _bert(path: Path, vocab: list[str], max_positions: int, seed: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(str(path / "vocab.txt"), do_lower_case=False)
    tok.model_max_length = max_positions
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), max_position_embeddings=max_positions, **SMALL)
    BertForMaskedLM(config).save_pretrained(path)  # DNABERT's checkpoints carry the MLM head
    tok.save_pretrained(path)
    return path


def dnabert(path: Path, k: int = 3, max_positions: int = 64, seed: int = 0) -> Path:
    """A DNABERT-style model: [PAD] [UNK] [CLS] [SEP] [MASK], then the k-mers."""
    return _bert(path, BERT_SPECIALS + dnabert_kmers(k), max_positions, seed)


def protbert(path: Path, max_positions: int = 48, seed: int = 2) -> Path:
    """A ProtBERT-style model: single residues, fed separated by spaces."""
    return _bert(path, BERT_SPECIALS + list(PROTBERT_RESIDUES), max_positions, seed)


def esm(path: Path, max_positions: int = 40, seed: int = 1) -> Path:
    """An ESM model (absolute positions offset by the padding id, as ESM-1b/NT v1)."""
    return _esm(path, ESM_TOKENS, max_positions, "absolute", seed)


def nucleotide_transformer(path: Path, max_positions: int = 34, seed: int = 3) -> Path:
    """A Nucleotide-Transformer-style model (v2: rotary positions) with 3-mers instead of
    6-mers: its tokenizer splits a sequence into non-overlapping k-mers, single bases for
    the rest (N included)."""
    vocab = ["<unk>", "<pad>", "<mask>", "<cls>", *dnabert_kmers(3), *"ATCGN", "<eos>", "<bos>"]
    return _esm(path, vocab, max_positions, "rotary", seed)


def _esm(path: Path, vocab: list[str], max_positions: int, positions: str, seed: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = EsmTokenizer(str(path / "vocab.txt"))
    torch.manual_seed(seed)
    config = EsmConfig(
        vocab_size=len(vocab),
        pad_token_id=vocab.index("<pad>"),
        mask_token_id=vocab.index("<mask>"),
        max_position_embeddings=max_positions,
        position_embedding_type=positions,
        token_dropout=True,
        **SMALL,
    )
    EsmModel(config, add_pooling_layer=False).save_pretrained(path)
    tok.save_pretrained(path)
    return path
