"""Token ids of every scheme against independent references (published vocab layouts,
plain-Python tokenizers), on hand cases and hypothesis-generated reads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.errors import ConfigError
from seqray.tokenize.schemes import make_tokenizer

from . import reference as ref
from .conftest import dna, dna_mostly, protein


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_kmer_vocab_is_dnaberts(k):
    tok = make_tokenizer("kmer", k=k)
    assert list(tok.vocab.tokens) == ref.dnabert_vocab(k)
    assert tok.vocab_size == 5 + 4**k
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id) == (0, 1, 2, 3)


def test_kmer_k6_hand_case():
    tok = make_tokenizer("kmer", k=6)
    assert tok.vocab_size == 4101
    # AAAAAA is the first 6-mer (id 5); TTTTTT the second "digit" run (A0 T1 C2 G3)
    assert tok.encode("AAAAAAT") == [2, 5, 6, 3]
    assert tok.encode("GGGGGG") == [2, 4100, 3]
    assert tok.encode("AAAAANA") == [2, 1, 1, 3]  # k-mers with N are [UNK]
    assert tok.encode("ACG") == [2, 3]  # shorter than k: no tokens


@settings(max_examples=150, deadline=None)
@given(seq=dna_mostly, k=st.integers(3, 6), stride=st.integers(1, 4))
def test_kmer_ids_match_reference(seq, k, stride):
    tok = make_tokenizer("kmer", k=k, stride=stride, add_special_tokens=False)
    assert tok.encode(seq) == ref.kmer_ids(seq, k, stride)


@settings(max_examples=150, deadline=None)
@given(seq=dna_mostly)
def test_nt6_matches_reference(seq):
    tok = make_tokenizer("nt6", add_special_tokens=False)
    assert tok.encode(seq) == ref.nt6_ids(seq)
    assert make_tokenizer("nt6").encode(seq) == [3, *ref.nt6_ids(seq)]  # <cls> only


def test_nt6_hand_case():
    tok = make_tokenizer("nt6", add_special_tokens=False)
    v = tok.vocab.index
    got = [tok.vocab.tokens[i] for i in tok.encode("ACGTACGTNAAAAAAAC")]
    assert got == ["ACGTAC", "G", "T", "N", "AAAAAA", "A", "C"]
    assert len(tok.vocab) == 4107 and v["AAAAAA"] == 4 and v["N"] == 4104
    assert v["<eos>"] == 4105 and v["<bos>"] == 4106


@settings(max_examples=100, deadline=None)
@given(seq=dna)
def test_char_is_hyena_layout(seq):
    tok = make_tokenizer("char")
    layout = {"A": 7, "C": 8, "G": 9, "T": 10, "N": 11}
    assert tok.encode(seq) == [layout[c] for c in seq] + [1]  # HyenaDNA appends [SEP]


PROTBERT = "[PAD] [UNK] [CLS] [SEP] [MASK] L A G V E S I K R D T P N Q F Y M H C W X U B Z O"


@settings(max_examples=100, deadline=None)
@given(seq=protein)
def test_protein_is_protbert_layout(seq):
    tok = make_tokenizer("protein", add_special_tokens=False)
    vocab = PROTBERT.split()
    assert list(tok.vocab.tokens) == vocab
    assert tok.encode(seq) == [vocab.index(c) if c in vocab else 1 for c in seq]


MURPHY10 = ["LVIM", "C", "A", "G", "ST", "P", "FYW", "EDNQ", "KR", "H"]


def test_protein_murphy10_groups():
    tok = make_tokenizer("protein", alphabet="murphy10", add_special_tokens=False)
    assert len(tok.vocab) == 5 + 10 + 1  # specials, groups, X
    for group in MURPHY10:
        ids = set(tok.encode(group))
        assert len(ids) == 1, group
    assert len(set(tok.encode("".join(g[0] for g in MURPHY10)))) == 10
    # U joins C, O joins K; B (D/N) stays in EDNQ; Z (E/Q) too; J and * are unknown
    assert tok.encode("UC") == [tok.encode("C")[0]] * 2
    assert tok.encode("OK") == [tok.encode("K")[0]] * 2
    assert tok.encode("BZ") == [tok.encode("E")[0]] * 2
    assert tok.encode("J*") == [1, 1]
    t15 = make_tokenizer("protein", alphabet="murphy15", add_special_tokens=False)
    assert len(set(t15.encode("LVIMCAGSTPFYWEDNQKRH"))) == 15
    assert t15.encode("B") == t15.encode("X")  # D and N are apart in murphy15


@settings(max_examples=100, deadline=None)
@given(
    seq=dna_mostly,
    k=st.sampled_from([1, 5, 15, 21, 32]),
    canonical=st.booleans(),
    buckets=st.sampled_from([None, 7, 1 << 20]),
)
def test_hashed_matches_reference(seq, k, canonical, buckets):
    if buckets is None and k > 15:
        with pytest.raises(ConfigError):
            make_tokenizer("hashed", k=k, buckets=None)
        return
    tok = make_tokenizer(
        "hashed", k=k, canonical=canonical, buckets=buckets, add_special_tokens=False
    )
    assert tok.encode(seq) == ref.hashed_ids(seq, k, 1, canonical, buckets)


def test_hashed_canonical_pairs_share_ids():
    tok = make_tokenizer("hashed", k=21, buckets=1 << 24, add_special_tokens=False)
    s = "ACGTTGCAAGGCTTACCGATGCAGT"
    assert tok.encode(s) == tok.encode(ref.revcomp(s))[::-1]


@pytest.mark.parametrize(
    "scheme,opts",
    [
        ("kmer", {"k": 9}),
        ("kmer", {"stride": 0}),
        ("protein", {"alphabet": "murphy4"}),
        ("kmer", {"max_length": 2}),  # no room beside [CLS] and [SEP]
        ("kmer", {"max_length": 10, "overlap": 8}),
        ("kmer", {"padding": True}),  # padding needs max_length
        ("nope", {}),
    ],
)
def test_bad_options_are_refused(scheme, opts):
    with pytest.raises(ConfigError):
        make_tokenizer(scheme, **opts)
