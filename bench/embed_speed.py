"""Skip-gram training speed: seqray's SGNS kernel vs gensim Word2Vec on the same token corpus.

Corpus: reads simulated from a random genome (both strands, substitutions at --error),
cut into canonical 15-mers (exact 2-bit codes as bucket ids), one sentence per read. Both
tools get the same in-vocabulary tokens (gensim as strings, min_count=1, since the
vocabulary is already pruned; sentences are reads, far below gensim's 10,000-token cap
on a sentence), the same hyper-parameters (skip-gram, dim, window, negatives, sample,
epochs) and the same number of threads. seqray's threads each train
their own replica on a contiguous share of the reads (the deterministic mode), so the
2-thread figure also shows that the kernel runs without the GIL.

Printed: words/s (raw corpus tokens x epochs / wall seconds of training only; vocabulary
building and JIT compilation excluded) and words/s per thread, and quality figures for
each model (the only structure in a random genome is adjacency): the AUC of true
genome-adjacent k-mer pairs against random pairs under the model's pair score, and the
cosine gap between adjacent and random k-mers' input vectors. seqray's figures are from
thread 0's replica (a share of the reads) when threads > 1. The defaults (20 kb at 100x,
2 epochs) train far enough for both tools to converge; with few occurrences per k-mer
(e.g. 50x, or a share of it) both still sit on the early plateau of skip-gram training.

    python bench/embed_speed.py --threads 1 2
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from seqray.embed.sgns import SgnsParams, init_weights, train_slice
from seqray.embed.vocab import Vocabulary, to_corpus
from seqray.kmers.encode import window_codes

_BASES = np.frombuffer(b"ACGT", np.uint8)
_COMPLEMENT = np.frombuffer(b"TGCA", np.uint8)


def simulate(genome_len: int, coverage: float, read_len: int, error: float, seed: int):
    """(genome codes 0..3, reads as ASCII values + offsets) with substitutions only."""
    rng = np.random.default_rng(seed)
    genome = rng.integers(0, 4, genome_len).astype(np.uint8)
    n = int(genome_len * coverage / read_len)
    starts = rng.integers(0, genome_len - read_len + 1, n)
    codes = genome[starts[:, None] + np.arange(read_len)]
    reverse = rng.random(n) < 0.5
    codes[reverse] = 3 - codes[reverse, ::-1]
    wrong = rng.random(codes.shape) < error
    codes[wrong] = (codes[wrong] + rng.integers(1, 4, int(wrong.sum()))) % 4
    values = _BASES[codes.ravel()]
    offsets = np.arange(n + 1, dtype=np.int64) * read_len
    return genome, values, offsets


def kmer_sentences(values: np.ndarray, offsets: np.ndarray, k: int):
    """Canonical k-mer codes of every read as uint32 ids (k <= 16) + sentence offsets."""
    codes, valid, win = window_codes(values, offsets, k, canonical=True)
    kept = np.concatenate(([0], np.cumsum(valid, dtype=np.int64)))
    return codes[valid].astype(np.uint32), kept[win]


def quality(w_in: np.ndarray, w_out: np.ndarray, rows_a, rows_b, seed: int):
    """(AUC, cosine gap) of genome-adjacent k-mer pairs against random pairs.

    AUC: how often the model's pair score w_in[a] . w_out[b] ranks a true adjacent pair
    above a random one (what skip-gram is trained to do; 0.5 = untrained). Cosine gap:
    mean cosine of adjacent input vectors minus that of random pairs.
    """
    rng = np.random.default_rng(seed)
    r1 = rng.integers(0, len(w_in), len(rows_a))
    r2 = rng.integers(0, len(w_in), len(rows_a))
    true = np.sum(w_in[rows_a] * w_out[rows_b], axis=1)
    rand = np.sum(w_in[r1] * w_out[r2], axis=1)
    ranks = np.argsort(np.argsort(np.concatenate([true, rand]), kind="stable")) + 1
    n = len(true)
    auc = (ranks[:n].sum() - n * (n + 1) / 2) / (n * n)
    unit = w_in / np.maximum(np.linalg.norm(w_in, axis=1, keepdims=True), 1e-12)
    near = float(np.mean(np.sum(unit[rows_a] * unit[rows_b], axis=1)))
    far = float(np.mean(np.sum(unit[r1] * unit[r2], axis=1)))
    return float(auc), near - far


def run_seqray(tokens, offsets, vocab, params: SgnsParams, threads: int):
    keep = vocab.keep_probs(params.sample)
    table = vocab.negative_table()
    n = len(offsets) - 1
    bounds = np.linspace(0, n, threads + 1).astype(int)
    replicas = [init_weights(len(vocab), params.dim, params.seed) for _ in range(threads)]
    w_in, w_out = init_weights(len(vocab), params.dim, params.seed)
    train_slice(w_in, w_out, tokens, offsets, keep, table, params, 0, 0, min(n, 10), 0)  # JIT
    totals = np.zeros((threads, 3))

    def work(t: int, epoch: int) -> None:
        wi, wo = replicas[t]
        totals[t] += train_slice(
            wi, wo, tokens, offsets, keep, table, params, epoch, bounds[t], bounds[t + 1], t
        )

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for epoch in range(params.epochs):
        pool = [threading.Thread(target=work, args=(t, epoch)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
    wall = time.perf_counter() - t0
    busy = (time.process_time() - cpu0) / wall  # ~threads when they truly run in parallel
    words, loss, pairs = totals.sum(axis=0)
    return wall, busy, int(words), loss / max(pairs, 1), replicas[0]


def run_gensim(tokens, offsets, vocab_size: int, params: SgnsParams, threads: int):
    from gensim.models import Word2Vec

    names = np.array([str(i) for i in range(vocab_size)], dtype=object)
    sentences = [list(names[tokens[a:b]]) for a, b in zip(offsets[:-1], offsets[1:])]
    model = Word2Vec(
        vector_size=params.dim,
        window=params.window,
        negative=params.negatives,
        sg=1,
        hs=0,
        min_count=1,
        sample=params.sample,
        workers=threads,
        seed=params.seed,
        alpha=params.lr,
        min_alpha=params.min_lr,
    )
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=params.epochs)
    wall = time.perf_counter() - t0
    order = [model.wv.key_to_index[str(i)] for i in range(vocab_size)]
    return wall, len(tokens) * params.epochs, (model.wv.vectors[order], model.syn1neg[order])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genome-len", type=int, default=20_000)
    ap.add_argument("--coverage", type=float, default=100.0)
    ap.add_argument("--read-len", type=int, default=150)
    ap.add_argument("--error", type=float, default=0.002)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--min-count", type=int, default=2)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negatives", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-gensim", action="store_true")
    args = ap.parse_args()

    genome, values, offsets = simulate(
        args.genome_len, args.coverage, args.read_len, args.error, args.seed
    )
    ids, id_offsets = kmer_sentences(values, offsets, args.k)
    uniq, counts = np.unique(ids, return_counts=True)
    vocab = Vocabulary.from_counts(uniq, counts, args.min_count)
    tokens, tok_offsets = to_corpus(vocab, ids, id_offsets)
    params = SgnsParams(
        dim=args.dim,
        window=args.window,
        negatives=args.negatives,
        epochs=args.epochs,
        sample=args.sample,
        seed=args.seed,
    )
    # genome-adjacent canonical k-mers, both in the vocabulary
    g_ids, _ = kmer_sentences(_BASES[genome], np.array([0, len(genome)], np.int64), args.k)
    g_rows = vocab.index(g_ids)
    both = (g_rows[:-1] >= 0) & (g_rows[1:] >= 0)
    rows_a, rows_b = g_rows[:-1][both], g_rows[1:][both]

    print(
        f"corpus: {len(tok_offsets) - 1:,} reads, {len(tokens):,} tokens, vocabulary "
        f"{len(vocab):,} (k={args.k}, min_count={args.min_count}); dim={args.dim} "
        f"window={args.window} negatives={args.negatives} sample={args.sample} "
        f"epochs={args.epochs}"
    )
    for threads in args.threads:
        wall, busy, words, mean_loss, weights = run_seqray(
            tokens, tok_offsets, vocab, params, threads
        )
        ours = words / wall
        auc, gap = quality(*weights, rows_a, rows_b, args.seed)
        print(
            f"seqray  threads={threads}: {wall:7.2f} s  {ours:12,.0f} words/s  "
            f"{ours / threads:12,.0f} words/s/thread  pair AUC {auc:.3f}  cosine gap {gap:.3f}  "
            f"loss/pair {mean_loss:.3f}  cpu/wall {busy:.2f}"
        )
        if args.skip_gensim:
            continue
        wall, words, weights = run_gensim(tokens, tok_offsets, len(vocab), params, threads)
        theirs = words / wall
        auc, gap = quality(*weights, rows_a, rows_b, args.seed)
        print(
            f"gensim  threads={threads}: {wall:7.2f} s  {theirs:12,.0f} words/s  "
            f"{theirs / threads:12,.0f} words/s/thread  pair AUC {auc:.3f}  cosine gap {gap:.3f}"
        )
        print(f"ratio seqray/gensim (threads={threads}): {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
