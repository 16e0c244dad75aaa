"""seqray's skip-gram training vs gensim Word2Vec on the same hashed-k-mer corpus, judged by
speed (words/s on the same cores) and by what the vectors are for (held-out read
classification accuracy).

Input: `bench/embed_data.py`'s read sets (DATASET/RATE/{train,test}.fastq + labels). The
training reads are hashed once by a seqray hasher (`--hash lsh|fnv|exact`, `--k`,
`--hash-bits`); buckets seen fewer than `--min-count` times are dropped. Both tools train on
exactly those sentences with the same settings (skip-gram, dim, window, negatives,
sample, epochs, lr, threads); gensim gets the bucket ids as strings. Each tool's vectors
then embed the training and held-out reads the same way (the mean of L2-normalised bucket
vectors, `seqray.embed.vectors.read_vectors`), and one standardised logistic regression per
tool is scored on the held-out reads (`embed_accuracy.score`). seqray trains with `--syncs`
merge points per epoch and `--threads` replicas (deterministic), or `--hogwild`.

    python bench/embed_vs_gensim.py [--dataset distinct --rate illumina] [--threads 2]
        [--per-label 2000] [--hash lsh --k 15 --hash-bits 20] [--epochs 5] [--runs 3]

Words/s: corpus tokens × epochs / wall seconds of training alone (vocabulary building,
hashing and JIT compilation excluded; seqray compiles once before the first timed run).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from embed_accuracy import read_fastq, read_labels, score

from seqray.embed.corpus import CORPUS_SCHEMA
from seqray.embed.hashing import hasher_for_reads
from seqray.embed.model import EmbeddingModel
from seqray.embed.sgns import SgnsParams, init_weights
from seqray.embed.table import EmbeddingTable
from seqray.embed.train import Trainer
from seqray.embed.vectors import read_vectors
from seqray.embed.vocab import Vocabulary
from seqray.io.formats.parquet import ParquetShardWriter
from seqray.pipeline.runners.local import LocalRunner


def subset(names, bases, offsets, labels, per_label: int, seed: int):
    """At most `per_label` reads of each label (a seeded draw), as (bases, offsets, labels)."""
    rng = np.random.default_rng(seed)
    keep = np.sort(
        np.concatenate(
            [
                rng.permutation(np.flatnonzero(labels == lab))[:per_label]
                for lab in np.unique(labels)
            ]
        )
    )
    lens = np.diff(offsets)[keep]
    pieces = [bases[offsets[i] : offsets[i + 1]] for i in keep]
    out_off = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
    return np.concatenate(pieces), out_off, labels[keep]


def train_seqray(ids, id_off, vocab, params, args, tmp):
    uri = os.path.join(tmp, "corpus.parquet")
    if not os.path.exists(uri):
        w = ParquetShardWriter(uri, CORPUS_SCHEMA)
        arr = pa.LargeListArray.from_arrays(
            pa.array(id_off, pa.int64()), pa.array(ids, pa.uint32())
        )
        w.write(pa.Table.from_arrays([arr], schema=CORPUS_SCHEMA))
        w.commit()
    t = Trainer(
        LocalRunner(args.threads),
        [uri],
        vocab,
        params,
        threads=args.threads,
        syncs=args.syncs,
        hogwild=args.hogwild,
    )
    t0 = time.perf_counter()
    w_in, _ = t.run([len(id_off) - 1])
    return w_in, time.perf_counter() - t0


def train_gensim(ids, id_off, vocab, params, args):
    from gensim.models import Word2Vec

    keep = vocab.index(ids) >= 0
    words = ids.astype(str)
    sentences = []
    for a, b in zip(id_off[:-1], id_off[1:]):
        s = words[a:b][keep[a:b]]
        if len(s):
            sentences.append(s.tolist())
    model = Word2Vec(
        vector_size=params.dim,
        window=params.window,
        negative=params.negatives,
        sg=1,
        hs=0,
        min_count=1,
        sample=params.sample,
        alpha=params.lr,
        min_alpha=params.lr * 1e-4,
        workers=args.threads,
        seed=args.seed,
    )
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=params.epochs)
    seconds = time.perf_counter() - t0
    rows = np.array([model.wv.key_to_index[str(b)] for b in vocab.buckets])
    return model.wv.vectors[rows].astype(np.float32), seconds


def accuracy(hasher, vocab, w_in, train, test, seed):
    table = EmbeddingTable.from_float32(vocab.buckets, w_in, "float32", vocab.counts)
    model = EmbeddingModel(hasher, table)
    xtr, _, _ = read_vectors(model, train[0], train[1])
    xte, _, _ = read_vectors(model, test[0], test[1])
    return score(xtr, train[2], xte, test[2], seed)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data" / "embed")
    ap.add_argument("--dataset", default="distinct")
    ap.add_argument("--rate", default="illumina")
    ap.add_argument("--per-label", type=int, default=2000)
    ap.add_argument("--hash", default="lsh", choices=["lsh", "fnv", "exact"])
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--hash-bits", type=int, default=20)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negatives", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.025)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--min-count", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--syncs", type=int, default=4)
    ap.add_argument("--hogwild", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    d = args.data / args.dataset / args.rate
    sets = []
    for split in ("train", "test"):
        names, bases, offsets = read_fastq(d / f"{split}.fastq")
        labels = read_labels(d / f"{split}.labels.tsv", names)
        per = args.per_label if split == "train" else max(args.per_label // 4, 1)
        sets.append(subset(names, bases, offsets, labels, per, args.seed))
    train, test = sets
    hasher = hasher_for_reads(args.hash, args.k, args.hash_bits, train[0], train[1], args.seed)
    ids, id_off = hasher.hash_reads(train[0], train[1])
    uniq, counts = np.unique(ids, return_counts=True)
    vocab = Vocabulary.from_counts(uniq.astype(np.uint32), counts.astype(np.int64), args.min_count)
    params = SgnsParams(
        dim=args.dim,
        window=args.window,
        negatives=args.negatives,
        epochs=args.epochs,
        lr=args.lr,
        sample=args.sample,
        seed=args.seed,
    )
    words = int((vocab.index(ids) >= 0).sum()) * args.epochs
    print(
        f"{args.dataset}/{args.rate}: {len(train[2]):,} training reads, {len(test[2]):,} "
        f"held out; {args.hash} k={args.k} bits={args.hash_bits}: vocabulary {len(vocab):,}; "
        f"{words:,} words to train; {args.threads} threads"
    )
    # what training adds: the same read vectors from the untrained (random) input vectors
    untrained = init_weights(len(vocab), args.dim, args.seed)[0]
    acc0 = accuracy(hasher, vocab, untrained, train, test, args.seed)
    print(f"untrained vectors: accuracy {acc0:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        # compile seqray's kernels once, outside the timings
        train_seqray(ids, id_off, vocab, SgnsParams(dim=8, epochs=1, seed=1), args, tmp)
        for run in range(args.runs):  # alternate the tools
            for tool in ("seqray", "gensim"):
                if tool == "seqray":
                    w_in, s = train_seqray(ids, id_off, vocab, params, args, tmp)
                else:
                    w_in, s = train_gensim(ids, id_off, vocab, params, args)
                acc = accuracy(hasher, vocab, w_in, train, test, args.seed)
                print(
                    f"run {run + 1} {tool:6s}: {s:7.2f} s, {words / s:>11,.0f} words/s "
                    f"({words / s / args.threads:,.0f} per thread), accuracy {acc:.3f}"
                )


if __name__ == "__main__":
    main()
