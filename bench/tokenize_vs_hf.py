"""k-mer tokenization (DNABERT, k = 6, stride 1, [CLS]/[SEP]): seqray vs the Hugging Face
fast tokenizer loaded from seqray's own export, on the same reads and the same CPUs.

    python bench/tokenize_vs_hf.py bench/data/ecoli_1M.fastq.gz [--runs 3] [--cpus 0,1]

Both run in this process, pinned to --cpus (`os.sched_setaffinity`; T = their number;
RAYON_NUM_THREADS = T unless set). Reading is excluded on both sides: the reads are parsed
once into Arrow batches first (so there is no page cache to warm). The HF tokenizer takes
what DNABERT's users feed it, space-separated k-mers; building those strings is timed apart
and not charged to HF. Timed per batch (the pipeline's batches):
- seqray: `KmerTokenizer.encode_batch(table)`, each batch cut in T parts run on a thread
  pool (the Numba kernels release the GIL), giving the Arrow `input_ids` column;
- HF (tokenizers): `backend_tokenizer.encode_batch_fast(texts)` (Rust, Rayon threads;
  ids left in Rust: the cheapest HF path);
- HF (transformers): `tokenizer(texts)["input_ids"]`, the call users make (Python lists),
  on the first `--transformers-reads` reads only (it is slow), against seqray's time on the
  same batches.

Check, exact, before any time is reported (else exit 3): in an untimed first pass, the ids
of every read of every batch are equal between seqray and `encode_batch_fast`, and between
seqray and the transformers call on the reads it is timed on. Then `--runs` timed passes;
within each, batch by batch, seqray then HF (alternating, so both see the same load).
Peak RSS is not per tool here (one process).
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _harness as H
import numpy as np
import pyarrow as pa


def load_batches(path: Path, block_bases: int, limit: int | None) -> list:
    from seqray.cli.common import iter_chunk_tables
    from seqray.io.parse import ReadOptions
    from seqray.io.sources import plan_chunks

    chunks, _ = plan_chunks(str(path))
    out, n = [], 0
    for _, t in iter_chunk_tables(chunks, ReadOptions(block_bases=block_bases)):
        if limit is not None and n + len(t) > limit:
            t = t.slice(0, limit - n)
        out.append(t.select(["seq", "source", "record"]))
        n += len(t)
        if limit is not None and n >= limit:
            break
    return out


def flat(lists: list) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, values) of a list of id lists."""
    lengths = np.fromiter(map(len, lists), np.int64, len(lists))
    return lengths, np.fromiter(itertools.chain.from_iterable(lists), np.int64, int(lengths.sum()))


def arrow_ids(tables: list) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, values) of the `input_ids` list column of seqray's output tables."""
    import pyarrow as pa

    col = pa.chunked_array(
        [t.column("input_ids").combine_chunks() for t in tables]
    ).combine_chunks()
    offsets = col.offsets.to_numpy()
    return np.diff(offsets), col.values.to_numpy()[offsets[0] : offsets[-1]].astype(np.int64)


def check(i: int, what: str, mine: tuple, theirs: tuple) -> None:
    """Ids of every read equal: same number of reads, same lengths, same values."""
    if len(mine[0]) != len(theirs[0]):
        raise H.Disagreement(
            f"batch {i}: seqray gave ids for {len(mine[0])} reads, "
            f"{what} for {len(theirs[0])} reads"
        )
    if np.array_equal(mine[0], theirs[0]) and np.array_equal(mine[1], theirs[1]):
        return
    if np.array_equal(mine[0], theirs[0]):
        tok = int(np.flatnonzero(mine[1] != theirs[1])[0])
        read = int(np.searchsorted(np.cumsum(mine[0]), tok, side="right"))
    else:
        read = int(np.flatnonzero(mine[0] != theirs[0])[0])
    raise H.Disagreement(
        f"batch {i}: ids differ between seqray and {what} (read {read} of the batch)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reads", type=Path, nargs="?", default=Path("bench/data/ecoli_1M.fastq.gz"))
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--limit", type=int, default=None, help="at most this many reads")
    ap.add_argument("--block-bases", type=int, default=1_500_000, help="bases per batch")
    ap.add_argument(
        "--transformers-reads",
        type=int,
        default=100_000,
        help="time the transformers call on (about) this many first reads only (it is slow)",
    )
    H.add_common_args(ap)
    args = H.parse_args(ap)
    H.check_perturb(args, ["seqray", "hf"])
    os.sched_setaffinity(0, args.cpu_list)
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    import transformers

    from seqray.tokenize.schemes import make_tokenizer

    tok = make_tokenizer("kmer", k=args.k)
    with tempfile.TemporaryDirectory() as d:
        tok.export(d)
        hf = transformers.AutoTokenizer.from_pretrained(d)
    backend = hf.backend_tokenizer

    with H.scratch(args) as work:
        if args.small:
            args.reads, args.block_bases = H.small_reads(work / "small")[0], 100_000
        t0 = time.perf_counter()
        batches = load_batches(args.reads, args.block_bases, args.limit)
        t_read = time.perf_counter() - t0
    pool = ThreadPoolExecutor(args.threads)

    def seqray_encode(b):
        step = -(-len(b) // args.threads)
        return list(pool.map(tok.encode_batch, [b.slice(i, step) for i in range(0, len(b), step)]))

    def seqs(b, side: str) -> list[str]:
        out = b.column("seq").cast("large_string").to_pylist()
        if args.perturb == side and out:  # self-check: one base of the first read changed
            out[0] = ("C" if out[0][:1] != "C" else "A") + out[0][1:]
        return out

    # the check pass, untimed: every read of every batch (also warms the JIT cache)
    tf_batches = tokens = 0
    for i, b in enumerate(batches):
        if args.perturb == "seqray":
            col = pa.array([x.encode() for x in seqs(b, "seqray")], b.schema.field("seq").type)
            b = b.set_column(b.schema.get_field_index("seq"), "seq", col)
        mine = arrow_ids(seqray_encode(b))
        tokens += len(mine[1])
        texts = [tok.hf_text(x) for x in seqs(batches[i], "hf")]
        check(
            i, "HF encode_batch_fast", mine, flat([e.ids for e in backend.encode_batch_fast(texts)])
        )
        if sum(len(x) for x in batches[:i]) < args.transformers_reads:
            check(i, "transformers", mine, flat(hf(texts)["input_ids"]))
            tf_batches = i + 1

    runs = {"seqray": [], "hf_tokenizers": [], "hf_transformers": [], "seqray_on_those": []}
    t_text = 0.0
    for r in range(args.runs):
        t_sr = t_hf = t_tf = t_sr_tf = 0.0
        for i, b in enumerate(batches):
            t0 = time.perf_counter()
            seqray_encode(b)
            dt = time.perf_counter() - t0
            t_sr += dt
            t0 = time.perf_counter()
            texts = [tok.hf_text(s) for s in b.column("seq").cast("large_string").to_pylist()]
            t_text += time.perf_counter() - t0
            t0 = time.perf_counter()
            backend.encode_batch_fast(texts)
            t_hf += time.perf_counter() - t0
            if i < tf_batches:
                t0 = time.perf_counter()
                hf(texts)["input_ids"]
                t_tf += time.perf_counter() - t0
                t_sr_tf += dt
        for key, v in zip(runs, (t_sr, t_hf, t_tf, t_sr_tf)):
            runs[key].append(round(v, 4))
        print(f"pass {r + 1}/{args.runs}: seqray {t_sr:.3f} s, HF {t_hf:.3f} s", file=sys.stderr)
    pool.shutdown()

    reads = sum(len(b) for b in batches)
    r_hf = [h / s for h, s in zip(runs["hf_tokenizers"], runs["seqray"])]
    r_tf = [h / s for h, s in zip(runs["hf_transformers"], runs["seqray_on_those"]) if s]
    tf_reads = sum(len(b) for b in batches[:tf_batches])
    report = {
        **H.context(args),
        "reads": reads,
        "tokens": tokens,
        "read_seconds_excluded": round(t_read, 2),
        "kmer_text_seconds_not_charged": round(t_text / args.runs, 2),
        "seconds": runs,
        "transformers_reads": tf_reads,
        "ratio_vs_hf_tokenizers": H.span([round(x, 2) for x in r_hf]),
        "ratio_vs_hf_transformers": H.span([round(x, 2) for x in r_tf]) if r_tf else None,
        "peak_rss_mib_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    sr = H.span(runs["seqray"])
    lines = [
        f"{reads:,} reads, {tokens:,} tokens, ids equal for every read; pinned to CPUs "
        f"{args.cpus}; {args.runs} passes, batch by batch alternating; ranges min–max\n",
        "| | seconds | tokens/s | ratio (HF / seqray) |",
        "|---|---:|---:|---:|",
        f"| seqray `encode_batch` | {H.fmt_span(sr, '.3f')} "
        f"| {H.fmt_span([tokens / sr[1] / 1e6, tokens / sr[0] / 1e6], '.0f', ' M')} | |",
        f"| HF tokenizers `encode_batch_fast` | {H.fmt_span(H.span(runs['hf_tokenizers']), '.3f')} "
        f"| | **{H.fmt_span(report['ratio_vs_hf_tokenizers'], suffix='×')}** |",
    ]
    if r_tf:
        lines.append(
            f"| transformers `tokenizer(texts)` (first {tf_reads:,} reads) "
            f"| {H.fmt_span(H.span(runs['hf_transformers']), '.3f')} "
            f"| | **{H.fmt_span(report['ratio_vs_hf_transformers'], suffix='×')}** |"
        )
    H.emit(report, lines, args)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    H.refuse_on_disagreement(main)
