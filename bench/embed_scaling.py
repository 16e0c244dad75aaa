"""Training on Ray workers (1 vs 2 actors of one thread each), embedding throughput, and the
memory of an LSH table against an exact k-mer table.

Same input as `embed_vs_gensim.py` (`bench/embed_data.py`'s read sets). Scaling: the hashed
training reads trained by `Trainer` on a `RayRunner` pool of W actors × 1 thread (W = 1, 2;
the Ray start-up is outside the timing; each worker keeps its share of the corpus). Embedding:
`read_vectors` (hash → lookup → mean of normalised rows) over the held-out reads, one
thread, reads/s. Memory: the rows a table needs for the distinct k-mers of the training
reads — exact (one row per distinct canonical k-mer) against LSH (one row per occupied
bucket) at k = 15 and 23 — times dim × 4 bytes.

    python bench/embed_scaling.py [--dataset distinct --rate illumina] [--per-label 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from embed_accuracy import read_fastq, read_labels
from embed_vs_gensim import subset

from seqray.embed.corpus import CORPUS_SCHEMA
from seqray.embed.hashing import fit_lsh, sample_kmers
from seqray.embed.model import EmbeddingModel
from seqray.embed.sgns import SgnsParams
from seqray.embed.table import EmbeddingTable
from seqray.embed.train import Trainer
from seqray.embed.vectors import read_vectors
from seqray.embed.vocab import Vocabulary
from seqray.io.formats.parquet import ParquetShardWriter


def write_shards(ids, id_off, parts: int, tmp: str) -> tuple[list[str], list[int]]:
    """The corpus as `parts` shards of about equal sentences (as chunks would give)."""
    n = len(id_off) - 1
    cuts = np.linspace(0, n, parts + 1).astype(int)
    uris, per_shard = [], []
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        per_shard.append(int(b - a))
        off = id_off[a : b + 1] - id_off[a]
        arr = pa.LargeListArray.from_arrays(
            pa.array(off, pa.int64()), pa.array(ids[id_off[a] : id_off[b]], pa.uint32())
        )
        uri = os.path.join(tmp, f"corpus-{i}.parquet")
        w = ParquetShardWriter(uri, CORPUS_SCHEMA)
        w.write(pa.Table.from_arrays([arr], schema=CORPUS_SCHEMA))
        w.commit()
        uris.append(uri)
    return uris, per_shard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data" / "embed")
    ap.add_argument("--dataset", default="distinct")
    ap.add_argument("--rate", default="illumina")
    ap.add_argument("--per-label", type=int, default=2000)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--hash-bits", type=int, default=20)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    d = args.data / args.dataset / args.rate
    names, bases, offsets = read_fastq(d / "train.fastq")
    train = subset(
        names, bases, offsets, read_labels(d / "train.labels.tsv", names), args.per_label, args.seed
    )
    names, bases, offsets = read_fastq(d / "test.fastq")
    test = subset(
        names, bases, offsets, read_labels(d / "test.labels.tsv", names), args.per_label, args.seed
    )
    values, offs = train[0], train[1]
    kmers = sample_kmers(values, offs, args.k, args.hash_bits * args.k * 4, args.seed)
    hasher = fit_lsh(args.k, args.hash_bits, kmers, args.seed)
    ids, id_off = hasher.hash_reads(values, offs)
    uniq, counts = np.unique(ids, return_counts=True)
    vocab = Vocabulary.from_counts(uniq.astype(np.uint32), counts.astype(np.int64), 1)
    params = SgnsParams(dim=args.dim, epochs=args.epochs, seed=args.seed)
    words = len(ids) * args.epochs
    print(f"{len(train[2]):,} training reads, {len(ids):,} k-mers, vocabulary {len(vocab):,}")

    import ray

    from seqray.pipeline.runners.ray import RayRunner

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        uris, per_shard = write_shards(ids, id_off, 8, tmp)
        Trainer(RayRunner(), uris, vocab, SgnsParams(dim=8, epochs=1), workers=2).run(per_shard)
        for run in range(args.runs):
            for workers in (1, 2):
                t = Trainer(RayRunner(), uris, vocab, params, workers=workers, threads=1)
                t0 = time.perf_counter()
                t.run(per_shard)
                s = time.perf_counter() - t0
                print(
                    f"run {run + 1}: {workers} Ray worker(s) × 1 thread: {s:6.2f} s, "
                    f"{words / s:,.0f} words/s"
                )
    ray.shutdown()

    table = EmbeddingTable.from_float32(
        vocab.buckets, np.random.default_rng(0).normal(size=(len(vocab), args.dim)), "float32"
    )
    model = EmbeddingModel(hasher, table)
    read_vectors(model, test[0][:10_000], test[1][:11] - test[1][0])  # compile
    for run in range(args.runs):
        t0 = time.perf_counter()
        read_vectors(model, test[0], test[1])
        s = time.perf_counter() - t0
        n = len(test[2])
        print(f"run {run + 1}: embedding {n:,} reads: {s:.3f} s, {n / s:,.0f} reads/s")

    for k in (15, 23):
        exact_rows = len(np.unique(distinct_codes(values, offs, k)))
        for bits in (16, 20, 22):
            s = sample_kmers(values, offs, k, bits * k * 4, args.seed)
            h = fit_lsh(k, bits, s, args.seed)
            rows = len(np.unique(h.hash_reads(values, offs)[0]))
            mb = exact_rows * args.dim * 4 / 1e6
            print(
                f"k={k}: exact table {exact_rows:,} rows = {mb:,.1f} MB; "
                f"lsh {bits} bits {rows:,} rows = {rows * args.dim * 4 / 1e6:,.1f} MB "
                f"({exact_rows / rows:.1f}× fewer)"
            )


def distinct_codes(values, offsets, k):
    """Canonical codes of every valid k-mer (k up to 32), for counting distinct k-mers."""
    from seqray.kmers.encode import valid_kmers

    return valid_kmers(values, offsets, k, canonical=True)


if __name__ == "__main__":
    main()
