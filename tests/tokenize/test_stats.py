"""Token statistics: merging per-batch statistics (and their JSON form, as the journal
stores them) gives the numbers of one pass; the distinct-count sketch of huge vocabularies
is close to the exact count."""

from __future__ import annotations

import random

import numpy as np

from seqray.tokenize.schemes import Encoded, make_tokenizer
from seqray.tokenize.stats import TokenStats


def test_merged_json_equals_one_pass():
    rng = random.Random(5)
    seqs = ["".join(rng.choice("ACGTN") for _ in range(rng.randint(0, 90))) for _ in range(300)]
    tok = make_tokenizer("kmer", k=3, max_length=20)
    whole = TokenStats(tok.vocab_size, tok.unk_id, tuple(tok.special_ids))
    tok.encode_batch(seqs, whole)
    merged = TokenStats()
    for i in range(0, 300, 70):
        part = TokenStats(tok.vocab_size, tok.unk_id, tuple(tok.special_ids))
        tok.encode_batch(seqs[i : i + 70], part)
        merged += TokenStats.from_json(part.to_json())
    assert merged.report() == whole.report()
    ids = [i for s in seqs for i in make_tokenizer("kmer", k=3, add_special_tokens=False).encode(s)]
    rep = whole.report()
    assert rep["unk_tokens"] == ids.count(1) and rep["tokens"] == len(ids)
    assert rep["distinct_tokens"] == len(set(ids))
    assert rep["reads"] == 300 and rep["tokens_per_read"]["min"] == 0


def test_distinct_sketch_of_a_huge_vocabulary():
    tok = make_tokenizer("hashed", k=31, buckets=2**31 - 6)
    rng = np.random.default_rng(1)
    ids = rng.choice(2**31 - 6, size=200_000, replace=False).astype(np.int32)
    merged = TokenStats()
    for part in np.array_split(ids, 7):
        s = TokenStats(tok.vocab_size, tok.unk_id, tuple(tok.special_ids))
        rows = tok.rows(Encoded(part, np.array([0, len(part)], dtype=np.int64)))
        s.add(Encoded(part, np.array([0, len(part)], dtype=np.int64)), rows, tok)
        merged += TokenStats.from_json(s.to_json())
    rep = merged.report()
    assert not rep["distinct_exact"]
    assert abs(rep["distinct_tokens"] - 200_000) / 200_000 < 0.05
