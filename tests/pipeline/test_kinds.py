"""Batch kinds: their measures, hand-counted, and the chain check."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from seqray.errors import ConfigError
from seqray.pipeline.config import parse_config
from seqray.pipeline.definition import Pipeline
from seqray.pipeline.kinds import (
    KINDS,
    KMER_COUNTS,
    PREDICTIONS,
    READS,
    TOKEN_ARRAYS,
    TOKENS,
    VECTORS,
)


def test_each_kind_measures_its_rows():
    reads = pa.table({"seq": ["ACGT", "", "GG"], "seq2": ["A", "CC", "TTT"]})
    assert READS.measure(reads) == {"bases": 4 + 0 + 2 + 1 + 2 + 3}
    tokens = pa.table({"input_ids": pa.array([[1, 2, 3], [], [4]], pa.list_(pa.int32()))})
    assert TOKENS.measure(tokens) == {"tokens": 4}
    assert TOKENS.measure(tokens.slice(0, 0)) == {"tokens": 0}
    padded = tokens.append_column(
        "attention_mask", pa.array([[1, 1, 0], [], [1]], pa.list_(pa.int8()))
    )
    assert TOKENS.measure(padded) == {"tokens": 3}  # padding is not a token
    vec = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(12, np.float32)), 4)
    assert VECTORS.measure(pa.table({"vector": vec})) == {"values": 12}
    per_token = pa.array([[[1.0, 2.0]], [[0.5, 0.5], [1.0, 1.0]]], pa.list_(pa.list_(pa.float32())))
    assert TOKEN_ARRAYS.measure(pa.table({"token_values": per_token})) == {"tokens": 3}
    counts = pa.table({"kmer": pa.array([1, 2], pa.uint64()), "count": pa.array([5, 7])})
    assert KMER_COUNTS.measure(counts) == {"kmer_occurrences": 12}
    labels = pa.array(["a", "unclassified", "b", "a"], pa.large_string())
    predictions = pa.table({"label": labels, "score": pa.array([0.9, 0, 0.5, 1], pa.float32())})
    assert PREDICTIONS.measure(predictions) == {"classified": 3}
    assert PREDICTIONS.measure(predictions.slice(0, 0)) == {"classified": 0}
    assert set(KINDS) == {
        "reads", "tokens", "vectors", "token_arrays", "kmer_counts", "predictions"
    }  # fmt: skip
    assert READS.missing(pa.schema([("qual", pa.string())])) == ["seq"]


def _pipeline(*stages):
    return Pipeline.from_config(
        parse_config({"output": "o", "stages": [{"read": {"paths": ["x"]}}, *stages]})
    )


def test_the_chain_is_checked_when_the_pipeline_is_built():
    p = _pipeline({"qc": {}}, {"tokenize": {"k": 3}}, {"write": {}})
    assert [k.name for k in p.kinds()] == ["reads", "reads", "tokens", "tokens"]
    for later in ({"count": {"k": 5}}, {"correct": {}}, {"inspect": {}}):
        name = next(iter(later))
        with pytest.raises(
            ConfigError,
            match=rf"stages\[3\] \({name}\) takes reads, but stages\[2\] \(tokenize\) "
            "before it gives tokens: move it before that stage",
        ):
            _pipeline({"qc": {}}, {"tokenize": {"k": 3}}, later, {"write": {}})
