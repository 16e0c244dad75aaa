"""HFEmbedder against a direct transformers forward pass computed here, one sequence and
one window at a time without padding: pooled (cls, mean) and per-token outputs agree to a
relative error of 1e-5 in float32, through padding, length bucketing, batches cut by a
small token budget, windows over long sequences, and the input order restored. The
tokenizer fast paths give the model tokenizer's own ids."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from seqray.embed.hf.embedder import HFEmbedder, as_arrays
from seqray.embed.hf.windows import pack, plan_windows

from .models import PROTBERT_RESIDUES

PROTEIN = "ACDEFGHIKLMNPQRSTVWY"


def dna(rng: random.Random, n: int, longest: int) -> list[str]:
    seqs = ["", "AC", "ACG", "NNNN"]  # no k-mer, one k-mer, unknown k-mers only
    seqs += [
        "".join(rng.choice("ACGTN" if i % 5 else "ACGT") for _ in range(rng.randint(0, longest)))
        for i in range(n)
    ]
    return seqs


def protein(rng: random.Random, n: int, longest: int, alphabet: str = PROTEIN) -> list[str]:
    return [""] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest))) for _ in range(n)
    ]


def text_of(name: str, seq: str) -> str:
    """The input each model's users give its tokenizer."""
    if name == "dnabert":
        return " ".join(seq[i : i + 3] for i in range(len(seq) - 2))
    if name == "protbert":
        return " ".join(seq)
    return seq


class Reference:
    """The model run the plain way: each window on its own, no batch, no padding."""

    def __init__(self, path):
        self.tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        # what each model's format puts around a sequence: BERT [CLS] … [SEP], ESM <cls> … <eos>
        self.seen: dict = {}  # windows already run
        tok = self.tok
        self.first = tok.cls_token_id
        self.last = tok.eos_token_id if tok.sep_token_id is None else tok.sep_token_id

    def windows(
        self, content: list[int], capacity: int, overlap: int
    ) -> list[tuple[int, np.ndarray]]:
        key = (tuple(content), capacity, overlap)
        if key not in self.seen:
            self.seen[key] = self._windows(content, capacity, overlap)
        return self.seen[key]

    def _windows(
        self, content: list[int], capacity: int, overlap: int
    ) -> list[tuple[int, np.ndarray]]:
        starts = [0]
        while starts[-1] + capacity < len(content):
            starts.append(starts[-1] + capacity - overlap)
        out = []
        for s in starts:
            ids = [self.first, *content[s : s + capacity], self.last]
            with torch.no_grad():
                h = self.model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
            out.append((s, h.astype(np.float64)))
        return out

    def embed(self, text: str, pooling: str, capacity: int, overlap: int) -> np.ndarray:
        content = self.tok(text, add_special_tokens=False)["input_ids"]
        n = len(content)
        wins = self.windows(content, capacity, overlap)
        if pooling == "tokens":
            rows = []
            for p in range(n):
                best, where = -1.0, None
                for s, h in wins:
                    inner = h[1:-1]
                    if not s <= p < s + len(inner):
                        continue
                    left = p - s if s > 0 else np.inf
                    right = s + len(inner) - 1 - p if s + len(inner) < n else np.inf
                    if min(left, right) > best:
                        best, where = min(left, right), inner[p - s]
                rows.append(where)
            return np.array(rows).reshape(n, wins[0][1].shape[1])
        weights = np.array([len(h) - 2 for _, h in wins], np.float64)
        if pooling == "cls":
            if weights.sum() == 0:
                return wins[0][1][0]
            return sum(w * h[0] for w, (_, h) in zip(weights, wins)) / weights.sum()
        if n == 0:
            return np.zeros(wins[0][1].shape[1])
        return sum(h[1:-1].sum(axis=0) for _, h in wins) / weights.sum()


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    """Relative error ≤ 1e-5 of each vector (row)."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    assert got.shape == want.shape
    err = np.linalg.norm(got - want, axis=-1)
    scale = np.maximum(np.linalg.norm(want, axis=-1), 1e-12)
    assert (err <= 1e-5 * scale + 1e-30).all(), (err / scale).max()


SEQUENCES = {
    "dnabert": lambda rng: dna(rng, 30, 260),  # 3-mers: up to 4 windows of 62
    "esm": lambda rng: protein(rng, 24, 130),  # windows of 36 residues
    "protbert": lambda rng: protein(rng, 16, 110, PROTBERT_RESIDUES),
    "nt": lambda rng: dna(rng, 16, 120),  # non-overlapping 3-mers and single bases
}
MODELS = list(SEQUENCES)


@pytest.fixture(scope="module")
def references(hf_models):
    return {name: Reference(path) for name, path in hf_models.items()}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    "options",
    [
        {},  # the model's limit, default overlap, one big batch
        {"max_length": 20, "overlap": 5, "batch_tokens": 50},  # many windows and batches
        {"max_length": 16, "overlap": 9, "batch_tokens": 1},  # overlap past half a window
    ],
    ids=["defaults", "small-batches", "wide-overlap"],
)
def test_parity_with_transformers(hf_models, references, name, options):
    rng = random.Random(len(options) * 7 + len(name))
    seqs = SEQUENCES[name](rng)
    if options.get("overlap", 0) > 5:
        seqs = seqs[:14]  # a window every few tokens: fewer reads keep the reference quick
    ref = references[name]
    pooled = {}
    for pooling in ("cls", "mean", "tokens"):
        emb = HFEmbedder(str(hf_models[name]), pooling=pooling, threads=1, **options)
        assert emb.device.type == "cpu" and emb.precision == "float32"
        cap, overlap = emb.capacity, emb.overlap
        assert cap == emb.max_length - 2
        raw = [s.encode() for s in seqs]
        if pooling == "tokens":
            values, offsets = emb.embed_tokens(raw)
            assert values.dtype == np.float32 and offsets.dtype == np.int64
            for i, s in enumerate(seqs):
                want = ref.embed(text_of(name, s), "tokens", cap, overlap)
                assert_close(values[offsets[i] : offsets[i + 1]], want)
            continue
        got = emb.embed(raw)
        assert got.dtype == np.float32 and got.shape == (len(seqs), emb.dim)
        for i, s in enumerate(seqs):
            assert_close(got[i], ref.embed(text_of(name, s), pooling, cap, overlap))
        pooled[pooling] = got
        out = emb.embed_arrays(*as_arrays(raw))
        stats = out.stats
        assert stats.sequences == len(seqs)
        assert stats.windows > stats.sequences and stats.windowed > 0  # long ones cut
        if options.get("batch_tokens") == 1:
            assert stats.padding == 0  # one window a batch
    assert not np.allclose(pooled["cls"], pooled["mean"])


def test_order_and_batching_do_not_change_vectors(hf_models):
    """Shuffled input, and any token budget: each sequence keeps its own vector."""
    rng = random.Random(5)
    seqs = [s.encode() for s in dna(rng, 40, 200)]
    base = HFEmbedder(str(hf_models["dnabert"]), pooling="mean", threads=1).embed(seqs)
    order = list(range(len(seqs)))
    rng.shuffle(order)
    for budget in (64, 300, 10**6):
        emb = HFEmbedder(str(hf_models["dnabert"]), pooling="mean", batch_tokens=budget)
        got = emb.embed([seqs[i] for i in order])
        np.testing.assert_allclose(got, base[order], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_token_ids_equal_the_model_tokenizer(hf_models, name):
    """The fast paths (seqray's k-mer kernel through the vocabulary; a byte table) give
    exactly the ids the model's own tokenizer gives its users' input."""
    emb = HFEmbedder(str(hf_models[name]))
    assert (
        emb.encoder.convention
        == {"dnabert": "kmer", "esm": "chars", "protbert": "spaced-chars", "nt": "text"}[name]
    )
    rng = random.Random(3)
    seqs = dna(rng, 200, 40) if name in ("dnabert", "nt") else protein(rng, 200, 40)
    tok = emb.encoder.tokenizer
    toks = emb.encoder.encode(*as_arrays([s.encode() for s in seqs]))
    for i, s in enumerate(seqs):
        want = tok(text_of(name, s), add_special_tokens=False)["input_ids"]
        assert toks.ids[toks.offsets[i] : toks.offsets[i + 1]].tolist() == want, s


def test_windows_and_batches():
    """Windows cover each sequence, overlap by `overlap`, and each token is owned once;
    batches hold every window once within the budget."""
    rng = np.random.default_rng(0)
    for capacity, overlap in [(10, 0), (10, 3), (10, 4), (10, 9), (1, 0)]:
        lengths = rng.integers(0, 60, 200)
        w = plan_windows(lengths, capacity, overlap)
        assert (w.length <= capacity).all() and (w.length >= 0).all()
        for i, n in enumerate(lengths):
            sl = slice(w.first[i], w.first[i + 1])
            starts, lens = w.start[sl], w.length[sl]
            assert starts[0] == 0 and starts[-1] + lens[-1] == n
            assert (np.diff(starts) == capacity - overlap).all()
            owned = np.concatenate(
                [np.arange(s + a, s + b) for s, a, b in zip(starts, w.own_lo[sl], w.own_hi[sl])]
            )
            assert owned.tolist() == list(range(n))
        batches = pack(w.length + 2, 40)
        together = np.sort(np.concatenate(batches))
        assert together.tolist() == list(range(len(w)))
        for b in batches:
            assert len(b) == 1 or len(b) * (w.length[b] + 2).max() <= 40


def test_lower_precision_autocast(hf_models):
    """An explicit bfloat16 precision runs the forward pass under autocast (on the CPU
    too): the vectors move off float32's, but stay close; the output is float32."""
    seqs = [s.encode() for s in dna(random.Random(8), 12, 150)]
    path = str(hf_models["dnabert"])
    full = HFEmbedder(path, pooling="mean").embed(seqs)
    emb = HFEmbedder(path, pooling="mean", precision="bfloat16")
    assert emb.precision == "bfloat16" and emb.describe()["precision"] == "bfloat16"
    half = emb.embed(seqs)
    assert half.dtype == np.float32 and not np.array_equal(half, full)
    np.testing.assert_allclose(half, full, rtol=0.1, atol=0.05)
