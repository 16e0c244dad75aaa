"""k-mer tokenization (DNABERT, k = 6, stride 1, [CLS]/[SEP]): seqray vs the Hugging Face
fast tokenizer loaded from seqray's own export, on the same reads and the same cores.

    RAYON_NUM_THREADS=2 TOKENIZERS_PARALLELISM=true \
        python bench/tokenize_vs_hf.py bench/data/ecoli_1M.fastq.gz --threads 2

Reading is excluded on both sides: the reads are parsed once into Arrow batches first.
The HF tokenizer takes what DNABERT's users feed it, space-separated k-mers; building those
strings is timed apart and not charged to HF. Timed per batch (the pipeline's batches):
- seqray: `KmerTokenizer.encode_batch(table)`, each batch cut in `--threads` parts run on
  a thread pool (the Numba kernels release the GIL), giving the Arrow `input_ids` column;
- HF (tokenizers): `backend_tokenizer.encode_batch_fast(texts)` (Rust, Rayon threads;
  ids left in Rust: the cheapest HF path);
- HF (transformers): `tokenizer(texts)["input_ids"]`, the call users make (Python lists),
  on the first `--transformers-reads` reads only (it is slow), against seqray's time on the
  same batches.
Batches are timed in turn (seqray, then HF) so both see the same machine load.
Every batch's ids are checked equal between seqray and HF. Prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def load_batches(path: str, limit: int | None) -> list:
    from seqray.cli.common import iter_chunk_tables
    from seqray.io.parse import ReadOptions
    from seqray.io.sources import plan_chunks

    chunks, _ = plan_chunks(path)
    out, n = [], 0
    for _, t in iter_chunk_tables(chunks, ReadOptions(block_bases=1_500_000)):
        if limit is not None and n + len(t) > limit:
            t = t.slice(0, limit - n)
        out.append(t.select(["seq", "source", "record"]))
        n += len(t)
        if limit is not None and n >= limit:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reads")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--limit", type=int, default=None, help="at most this many reads")
    ap.add_argument(
        "--transformers-reads",
        type=int,
        default=100_000,
        help="time the transformers call on (about) this many first reads only (it is slow)",
    )
    ap.add_argument("--json", help="also write the report here")
    args = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    import transformers

    from seqray.tokenize.schemes import make_tokenizer

    tok = make_tokenizer("kmer", k=args.k)
    with tempfile.TemporaryDirectory() as d:
        tok.export(d)
        hf = transformers.AutoTokenizer.from_pretrained(d)
    backend = hf.backend_tokenizer

    t0 = time.perf_counter()
    batches = load_batches(args.reads, args.limit)
    t_read = time.perf_counter() - t0
    reads = sum(len(b) for b in batches)

    # seqray: warm the JIT cache once; then, batch by batch, seqray, HF and (on the first
    # reads) transformers in turn, so that both sides see the same machine load
    tok.encode_batch(batches[0].slice(0, 10))
    pool = ThreadPoolExecutor(args.threads)
    t_seqray = t_text = t_hf = t_tf = 0.0
    tokens = hf_tokens = tf_reads = 0
    tf_seqray = 0.0
    for b in batches:
        step = -(-len(b) // args.threads)
        parts = [b.slice(i, step) for i in range(0, len(b), step)]
        t0 = time.perf_counter()
        mine = list(pool.map(tok.encode_batch, parts))
        dt = time.perf_counter() - t0
        t_seqray += dt
        tokens += sum(len(t.column("input_ids").combine_chunks().values) for t in mine)

        t0 = time.perf_counter()
        texts = [tok.hf_text(s) for s in b.column("seq").cast("large_string").to_pylist()]
        t_text += time.perf_counter() - t0
        t0 = time.perf_counter()
        encs = backend.encode_batch_fast(texts)
        t_hf += time.perf_counter() - t0
        hf_tokens += sum(len(e) for e in encs)
        if [e.ids for e in encs[:200]] != mine[0].column("input_ids").to_pylist()[:200]:
            print("ids differ between seqray and HF", file=sys.stderr)
            return 1
        if tf_reads < args.transformers_reads:
            t0 = time.perf_counter()
            ids = hf(texts)["input_ids"]
            t_tf += time.perf_counter() - t0
            tf_seqray += dt
            tf_reads += len(ids)
    pool.shutdown()
    if hf_tokens != tokens:
        print(f"token counts differ: seqray {tokens}, HF {hf_tokens}", file=sys.stderr)
        return 1
    report = {
        "reads": reads,
        "tokens": tokens,
        "threads": args.threads,
        "load_avg_1min": os.getloadavg()[0],
        "read_seconds_excluded": round(t_read, 2),
        "seqray_seconds": round(t_seqray, 3),
        "hf_tokenizers_seconds": round(t_hf, 3),
        "transformers_reads": tf_reads,
        "hf_transformers_seconds_on_those": round(t_tf, 3),
        "kmer_text_seconds_not_charged": round(t_text, 2),
        "seqray_tokens_per_s": round(tokens / t_seqray),
        "hf_tokenizers_tokens_per_s": round(tokens / t_hf),
        "ratio_vs_hf_tokenizers": round(t_hf / t_seqray, 2),
        "ratio_vs_hf_transformers": round(t_tf / tf_seqray, 2) if tf_reads else None,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
