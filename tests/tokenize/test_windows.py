"""Windows, truncation, padding and masks: hand cases and properties (windows cover every
token, overlap as asked, carry the read identity and base offset)."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.io.schema import record_column, source_column
from seqray.tokenize.schemes import make_tokenizer

from .conftest import dna_mostly


def test_windows_hand_case():
    tok = make_tokenizer("kmer", k=3, max_length=6, overlap=1, padding=True)
    out = tok.encode_batch(["ACGTACGTAC", "", "AC"]).to_pydict()
    # 8 3-mers; 4 a window (6 minus [CLS] and [SEP]), stepping 3 tokens
    assert out["read"] == [0, 0, 0, 1, 2]
    assert out["window"] == [0, 1, 2, 0, 0]
    assert out["offset"] == [0, 3, 6, 0, 0]
    acg, cgt, gta, tac = (tok.vocab.index[t] for t in ("ACG", "CGT", "GTA", "TAC"))
    assert out["input_ids"][0] == [2, acg, cgt, gta, tac, 3]
    assert out["input_ids"][1] == [2, tac, acg, cgt, gta, 3]
    assert out["input_ids"][2] == [2, gta, tac, 3, 0, 0]
    assert out["attention_mask"][2] == [1, 1, 1, 1, 0, 0]
    assert out["input_ids"][3] == [2, 3, 0, 0, 0, 0]  # an empty read still has its row


def test_truncate_keeps_first_window_only():
    tok = make_tokenizer("char", max_length=4, truncate=True, add_special_tokens=False)
    out = tok.encode_batch(["ACGTAC", "AC"]).to_pydict()
    assert out["input_ids"] == [[7, 8, 9, 10], [7, 8]]
    assert "attention_mask" not in out


def test_identity_columns_follow_the_table():
    tok = make_tokenizer("nt6", max_length=3, add_special_tokens=False)
    t = pa.table(
        {
            "seq": pa.array([b"AAAAAACCCCCCGGGGGGT", b"N"], pa.large_binary()),
            "source": source_column("f.fq", 2),
            "record": record_column(10, 2),
        }
    )
    out = tok(t)  # usable in Dataset.map_batches(batch_format="pyarrow")
    assert out.column_names == ["source", "record", "window", "offset", "input_ids"]
    d = out.to_pydict()
    assert d["record"] == [10, 10, 11] and d["source"] == ["f.fq"] * 3
    assert d["offset"] == [0, 18, 0]  # nt6 tokens are 6 bases: the 4th token starts at 18


def test_pairs_get_a_mate_column_in_read_order():
    tok = make_tokenizer("char", max_length=3, add_special_tokens=False)
    t = pa.table(
        {
            "seq": pa.array([b"AAAA", b"C"], pa.large_binary()),
            "seq2": pa.array([b"G", b"TTTT"], pa.large_binary()),
        }
    )
    d = tok.encode_batch(t).to_pydict()
    assert list(zip(d["read"], d["mate"], d["window"])) == [
        (0, 1, 0), (0, 1, 1), (0, 2, 0), (1, 1, 0), (1, 2, 0), (1, 2, 1),
    ]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    seqs=st.lists(dna_mostly, min_size=1, max_size=6),
    k=st.integers(1, 6),
    stride=st.integers(1, 3),
    max_length=st.integers(3, 40),
    overlap_frac=st.floats(0, 0.9),
    special=st.booleans(),
    padding=st.booleans(),
)
def test_windows_cover_every_token(seqs, k, stride, max_length, overlap_frac, special, padding):
    nspec = 2 if special else 0
    cap = max_length - nspec
    overlap = min(int(cap * overlap_frac), cap - 1)
    whole = make_tokenizer("kmer", k=k, stride=stride, add_special_tokens=False)
    tok = make_tokenizer(
        "kmer",
        k=k,
        stride=stride,
        add_special_tokens=special,
        max_length=max_length,
        overlap=overlap,
        padding=padding,
    )
    d = tok.encode_batch(seqs).to_pydict()
    for r, seq in enumerate(seqs):
        full = whole.encode(seq)
        rows = [i for i, x in enumerate(d["read"]) if x == r]
        assert [d["window"][i] for i in rows] == list(range(len(rows)))
        rebuilt: list[int] = []
        for i in rows:
            ids = d["input_ids"][i]
            if padding:
                assert len(ids) == max_length
                mask = d["attention_mask"][i]
                assert mask == sorted(mask, reverse=True)  # ones then zeros
                ids = ids[: sum(mask)]
            assert len(ids) <= max_length
            if special:
                assert ids[0] == 2 and ids[-1] == 3
                ids = ids[1:-1]
            first = d["window"][i] * (cap - overlap)
            assert ids == full[first : first + cap]
            assert d["offset"][i] == first * stride
            rebuilt = rebuilt[:first] + ids
        assert rebuilt == full  # nothing dropped, nothing added
