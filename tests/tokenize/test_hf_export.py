"""Every scheme's Hugging Face export loads with AutoTokenizer (offline, local directory)
and gives seqray's ids on random sequences, special tokens included."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings

from seqray.errors import ConfigError
from seqray.tokenize.bpe import train_bpe
from seqray.tokenize.hf_export import load_tokenizer
from seqray.tokenize.schemes import make_tokenizer

from ..peers import require_module
from .conftest import dna_mostly, protein

CASES = {
    "kmer6": ("kmer", {"k": 6}),
    "kmer3_stride2": ("kmer", {"k": 3, "stride": 2}),
    "nt6": ("nt6", {}),
    "char": ("char", {}),
    "protein": ("protein", {}),
    "protein_murphy10": ("protein", {"alphabet": "murphy10"}),
    "hashed_canonical": ("hashed", {"k": 7}),
    "hashed_buckets": ("hashed", {"k": 9, "buckets": 1000, "canonical": False}),
    "kmer_nospecial": ("kmer", {"k": 4, "add_special_tokens": False}),
}


def _bpe():
    rng = random.Random(3)
    genome = "".join(rng.choice("ACGT") for _ in range(5000))
    seqs = [genome[i : i + 100] for i in range(0, 4900, 7)]
    return make_tokenizer("bpe", tokenizer=train_bpe(seqs, 120))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    transformers = require_module("transformers")
    out = {}
    for name, (scheme, opts) in CASES.items():
        tok = make_tokenizer(scheme, **opts)
        d = tmp_path_factory.mktemp(name)
        tok.export(str(d))
        out[name] = (tok, transformers.AutoTokenizer.from_pretrained(str(d)))
    tok = _bpe()
    d = tmp_path_factory.mktemp("bpe")
    tok.export(str(d))
    out["bpe"] = (tok, transformers.AutoTokenizer.from_pretrained(str(d)))
    return out


# against transformers (a peer library, seconds to import and load): integration tests
@pytest.mark.integration
@settings(max_examples=60, deadline=None)
@given(seq=dna_mostly)
def test_dna_schemes_round_trip(exported, seq):
    for name, (tok, hf) in exported.items():
        if tok.scheme == "protein":
            continue
        assert hf(tok.hf_text(seq))["input_ids"] == tok.encode(seq), name


@pytest.mark.integration
@settings(max_examples=60, deadline=None)
@given(seq=protein)
def test_protein_round_trip(exported, seq):
    for name in ("protein", "protein_murphy10"):
        tok, hf = exported[name]
        assert hf(tok.hf_text(seq))["input_ids"] == tok.encode(seq), name


@pytest.mark.integration
def test_special_tokens_and_padding(exported):
    tok, hf = exported["kmer6"]
    assert (hf.pad_token_id, hf.unk_token_id, hf.cls_token_id, hf.sep_token_id) == (0, 1, 2, 3)
    assert hf.mask_token_id == 4
    enc = hf(tok.hf_text("ACGTACGT"), padding="max_length", max_length=8)
    assert enc["input_ids"] == [*tok.encode("ACGTACGT"), 0, 0, 0]  # 3 6-mers, 2 specials
    assert enc["attention_mask"] == [1, 1, 1, 1, 1, 0, 0, 0]
    ours = make_tokenizer("kmer", k=6, max_length=8, padding=True).encode_batch(["ACGTACGT"])
    assert ours.column("input_ids").to_pylist() == [enc["input_ids"]]
    assert ours.column("attention_mask").to_pylist() == [enc["attention_mask"]]
    tok, hf = exported["nt6"]
    assert hf.cls_token_id == 3 and hf.pad_token_id == 1


def test_export_reloads_into_seqray(tmp_path):
    tok = make_tokenizer("hashed", k=5, buckets=77, stride=2)
    tok.export(str(tmp_path))
    back = load_tokenizer(str(tmp_path))
    assert back.settings() == tok.settings()
    seqray = json.loads((tmp_path / "seqray_tokenizer.json").read_text())
    assert seqray["scheme"] == "hashed" and seqray["buckets"] == 77
    bpe = _bpe()
    bpe.export(str(tmp_path / "b"))
    again = load_tokenizer(str(tmp_path / "b"))
    assert again.encode("ACGTTAGCNAC") == bpe.encode("ACGTTAGCNAC")


def test_large_hashed_vocabulary_is_not_exported(tmp_path):
    with pytest.raises(ConfigError, match="too many"):
        make_tokenizer("hashed", k=21, buckets=1 << 20).export(str(tmp_path))
