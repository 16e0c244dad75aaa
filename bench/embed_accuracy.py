"""Read-classification accuracy of k-mer profiles and seqray read vectors (issue 13, "Accuracy").

    python bench/embed_accuracy.py results.md [--data bench/data/embed]
        [--datasets distinct,close,16s] [--rates illumina,0.10,0.15]
        [--methods kmer4,lsh,fnv,exact] [--k 15] [--hash-bits 20] [--dim 100] [--epochs 5]
        [--threads 2] [--seed 1] [--seqray "python -m seqray.cli.main"] [--json FILE]

Inputs are `bench/embed_data.py`'s read sets: for every dataset and error rate, train.fastq
and test.fastq with name<TAB>label TSVs. Every method turns each read into a feature vector;
one logistic regression (scikit-learn, lbfgs, multinomial, C = 1, features standardised on
the training reads) is fitted on the training reads and scored on the held-out reads: the
same folds for every method. Accuracy = fraction of held-out reads whose predicted label is
their true label (16s: the genus; held-out reads come from 16S sequences never seen in
training).

Methods:

- `kmerK` (e.g. kmer4, kmer5, kmer6): the canonical K-mer frequency profile of the read
  (counts of each k-mer merged with its reverse complement, divided by the read's number of
  k-mers; windows with a non-ACGT base skipped). Vectorised NumPy. "vocab" is the number of
  canonical K-mers.
- `lsh`, `fnv`, `exact`: seqray read vectors (mean of L2-normalised bucket vectors). For each
  read set `seqray embeddings train train.fastq` learns the model on the training reads only
  (unsupervised), then `seqray embed` writes the vectors of both splits (`embed_reads`).
  **Equal table size**: with `--hash-bits B`, lsh has 2^B buckets (B hyperplanes) and fnv
  2^B buckets (passed as `--hash-bits B`), both over k-mers of length `--k`; exact uses
  k = B / 2 (`--exact-k` overrides), whose id space 4^k = 2^B (canonical k-mers occupy about
  half of it). "vocab" is the model's vocabulary size (buckets kept after --min-count).

Prints a Markdown table (dataset, error, method, k, id space, vocab, accuracy, seconds to
build the features, seconds to fit) and writes it to the file named first.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_CODE = np.full(256, 4, dtype=np.int64)
_CODE[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = [0, 1, 2, 3, 0, 1, 2, 3]


@dataclass
class Result:
    dataset: str
    error: str
    method: str
    k: int
    id_space: int
    vocab: int
    train_reads: int
    test_reads: int
    accuracy: float
    features_s: float
    fit_s: float


# ---------------------------------------------------------------- inputs


def read_fastq(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(names str[n], bases uint8 concatenated, offsets int64[n+1]) of a 4-line FASTQ."""
    buf = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1))
    if len(ends) % 4:
        raise SystemExit(f"{path}: not a 4-line FASTQ ({len(ends)} lines)")
    s0, e0 = starts[1::4], ends[1::4]  # sequence lines
    lens = e0 - s0
    flat = np.arange(lens.sum()) + np.repeat(s0 - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    raw = path.read_bytes()
    names = np.array(
        [
            raw[a + 1 : b].split(None, 1)[0].decode()
            for a, b in zip(starts[0::4], ends[0::4], strict=True)
        ]
    )
    return names, buf[flat], np.concatenate(([0], np.cumsum(lens))).astype(np.int64)


def read_labels(path: Path, names: np.ndarray) -> np.ndarray:
    """The label of each name, from a name<TAB>label TSV."""
    rows = np.loadtxt(path, dtype=str, delimiter="\t", ndmin=2)
    return align(rows[:, 0], names, rows[:, 1], str(path))


def align(keys: np.ndarray, names: np.ndarray, values: np.ndarray, what: str) -> np.ndarray:
    """values[i] for the key equal to names[j], in the order of names (vectorised join)."""
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], names)
    pos = np.minimum(pos, len(keys) - 1)
    hit = keys[order][pos] == names
    if not hit.all():
        missing = names[~hit][:3].tolist()
        raise SystemExit(f"{what}: {int((~hit).sum())} reads missing, e.g. {missing}")
    return values[order][pos]


# ---------------------------------------------------------------- k-mer profile baseline


def canonical_index(k: int) -> tuple[np.ndarray, int]:
    """Map from every k-mer code (2 bits a base, first base high) to its canonical column."""
    codes = np.arange(4**k, dtype=np.int64)
    rc = np.zeros_like(codes)
    x = codes.copy()
    for _ in range(k):  # k steps over all codes at once
        rc = (rc << 2) | (3 - (x & 3))
        x >>= 2
    canon = np.minimum(codes, rc)
    uniq, idx = np.unique(canon, return_inverse=True)
    return idx.astype(np.int64), len(uniq)


def kmer_profile(bases: np.ndarray, offsets: np.ndarray, k: int, chunk: int = 20_000):
    """Canonical k-mer frequency profiles, a scipy CSR matrix [n reads, canonical k-mers]
    (CHUNK reads at a time, to bound memory)."""
    from scipy import sparse

    n = len(offsets) - 1
    parts = []
    for a in range(0, max(n, 1), chunk):
        b = min(a + chunk, n)
        sub = bases[offsets[a] : offsets[b]]
        parts.append(_profile(sub, offsets[a : b + 1] - offsets[a], k))
    return sparse.vstack(parts, format="csr")


def _profile(bases: np.ndarray, offsets: np.ndarray, k: int):
    from scipy import sparse

    n = len(offsets) - 1
    col_of, ncol = canonical_index(k)
    code = _CODE[bases]
    m = len(code) - k + 1
    if m <= 0:
        return sparse.csr_matrix((n, ncol), dtype=np.float32)
    bad = np.concatenate(([0], np.cumsum(code == 4)))
    read = np.repeat(np.arange(n), np.diff(offsets))
    p = np.arange(m)
    ok = (bad[p + k] - bad[p] == 0) & (read[p] == read[p + k - 1])
    p = p[ok]
    c = np.where(code == 4, 0, code)
    fwd = np.zeros(len(p), dtype=np.int64)
    for j in range(k):
        fwd = (fwd << 2) | c[p + j]
    rows = read[p]
    mat = sparse.csr_matrix(
        (np.ones(len(p), dtype=np.float32), (rows, col_of[fwd])), shape=(n, ncol)
    )
    mat.sum_duplicates()
    total = np.asarray(mat.sum(axis=1)).ravel()
    return sparse.diags(1.0 / np.maximum(total, 1)).astype(np.float32) @ mat


# ---------------------------------------------------------------- seqray read vectors


def _vectors(out_dir: Path, names: np.ndarray) -> np.ndarray:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = sorted((out_dir / "vectors").glob("*.parquet"))
    if not parts:
        raise SystemExit(f"{out_dir}/vectors: no parquet parts")
    table = pq.read_table(parts, columns=["name", "vector"]).combine_chunks()
    vec = table.column("vector").chunk(0)
    dim = vec.type.list_size
    flat = pc.cast(vec.flatten(), "float32").to_numpy(zero_copy_only=False)
    mat = flat.reshape(len(table), dim)
    keys = np.array(table.column("name").to_pylist())
    keys = np.char.lstrip(keys.astype(str), "@")
    rows = align(keys, names, np.arange(len(keys)), f"{out_dir}/vectors")
    return mat[rows]


def embed_reads(
    train_fastq: Path,
    test_fastq: Path,
    scheme: str,
    k: int,
    hash_bits: int,
    dim: int,
    *,
    epochs: int = 5,
    window: int = 5,
    min_count: int = 1,
    threads: int = 2,
    seed: int = 1,
    seqray: list[str] | None = None,
    workdir: Path | None = None,
    times: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """seqray read vectors of the training and held-out reads, rows in FASTQ order, from a
    model trained on the training reads only; and the model's vocabulary size.

    Runs `seqray embeddings train TRAIN -o MODEL --k K --hash SCHEME [--hash-bits B] ...` and
    `seqray embed FASTQ --model MODEL -o OUT`, then reads OUT/vectors/*.parquet (columns
    name, vector fixed_size_list<float>[D]). exact takes no --hash-bits (its ids are the
    canonical k-mers themselves). TIMES, if given, gets train_s and embed_s.
    """
    cmd = seqray or [sys.executable, "-m", "seqray.cli.main"]
    with tempfile.TemporaryDirectory(prefix="seqray-embacc-", dir=workdir) as tmp:
        model, t0 = Path(tmp) / "model", time.perf_counter()
        train = [*cmd, "embeddings", "train", str(train_fastq), "-o", str(model)]
        train += ["--k", str(k), "--hash", scheme, "--dim", str(dim), "--window", str(window)]
        train += ["--epochs", str(epochs), "--min-count", str(min_count)]
        train += ["--threads", str(threads), "--seed", str(seed)]
        if scheme != "exact":
            train += ["--hash-bits", str(hash_bits)]
        _run(train)
        t1 = time.perf_counter()
        out = []
        for split, fq in (("train", train_fastq), ("test", test_fastq)):
            dest = Path(tmp) / f"vec_{split}"
            _run(
                [
                    *cmd,
                    "embed",
                    str(fq),
                    "--model",
                    str(model),
                    "-o",
                    str(dest),
                    "--dtype",
                    "float32",
                ]
            )
            out.append(_vectors(dest, read_fastq(fq)[0]))
        t2 = time.perf_counter()
        vocab = int(json.loads((model / "model.json").read_text())["vocab_size"])
    if times is not None:
        times.update(train_s=t1 - t0, embed_s=t2 - t1)
    return out[0], out[1], vocab


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(cmd)}\n" + "\n".join(tail))


# ---------------------------------------------------------------- scoring


def score(xtr, ytr: np.ndarray, xte, yte: np.ndarray, seed: int) -> tuple[float, float]:
    """Held-out accuracy of a standardised logistic regression; and the fit seconds."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    if sparse.issparse(xtr) and xtr.shape[1] <= 4096:
        xtr, xte = xtr.toarray(), xte.toarray()
    scaler = StandardScaler(with_mean=not sparse.issparse(xtr)).fit(xtr)
    clf = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    clf.fit(scaler.transform(xtr), ytr)
    acc = float((clf.predict(scaler.transform(xte)) == yte).mean())
    return acc, time.perf_counter() - t0


def evaluate(dataset: str, rate: str, method: str, args: argparse.Namespace) -> Result:
    d = args.data / dataset / rate
    names_tr, b_tr, o_tr = read_fastq(d / "train.fastq")
    names_te, b_te, o_te = read_fastq(d / "test.fastq")
    y_tr = read_labels(d / "train.labels.tsv", names_tr)
    y_te = read_labels(d / "test.labels.tsv", names_te)
    t0 = time.perf_counter()
    if method.startswith("kmer"):
        k = int(method[4:])
        x_tr, x_te = kmer_profile(b_tr, o_tr, k), kmer_profile(b_te, o_te, k)
        vocab = id_space = x_tr.shape[1]
    else:
        k = (args.exact_k or args.hash_bits // 2) if method == "exact" else args.k
        seqray = shlex.split(args.seqray) if args.seqray else None
        x_tr, x_te, vocab = embed_reads(
            d / "train.fastq",
            d / "test.fastq",
            method,
            k,
            args.hash_bits,
            args.dim,
            epochs=args.epochs,
            window=args.window,
            min_count=args.min_count,
            threads=args.threads,
            seed=args.seed,
            seqray=seqray,
        )
        id_space = 4**k if method == "exact" else 2**args.hash_bits
    feat_s = time.perf_counter() - t0
    acc, fit_s = score(x_tr, y_tr, x_te, y_te, args.seed)
    return Result(
        dataset, rate, method, k, id_space, vocab, len(y_tr), len(y_te), acc, feat_s, fit_s
    )


def table(results: list[Result]) -> str:
    cols = "dataset error method k | id space | vocab | train / test reads | accuracy"
    head = "| " + " | ".join(cols.split(" ", 3)) + " | features s | fit s |"
    lines = [head, "|" + "---|" * 10]
    for r in results:
        lines.append(
            f"| {r.dataset} | {r.error} | {r.method} | {r.k} | {r.id_space:,} | {r.vocab:,} "
            f"| {r.train_reads:,} / {r.test_reads:,} | {r.accuracy:.3f} | {r.features_s:.1f} "
            f"| {r.fit_s:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("out", type=Path, help="Markdown file for the table")
    p.add_argument("--data", type=Path, default=HERE / "data" / "embed")
    p.add_argument("--datasets", default="distinct,close,16s")
    p.add_argument("--rates", default="illumina,0.10,0.15")
    p.add_argument("--methods", default="kmer4,lsh,fnv,exact")
    p.add_argument("--k", type=int, default=15, help="k of lsh and fnv")
    p.add_argument("--hash-bits", type=int, default=20)
    p.add_argument("--exact-k", type=int, default=0, help="k of exact (default hash-bits / 2)")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seqray", default="", help="command that runs the seqray CLI")
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    args = p.parse_args(argv)
    methods = [x for x in args.methods.split(",") if x]
    for method in methods:
        if not (method in ("lsh", "fnv", "exact") or method[:4] == "kmer" and method[4:].isdigit()):
            p.error(f"--methods: unknown {method!r} (kmerK, lsh, fnv, exact)")
    results = []
    for ds in [x for x in args.datasets.split(",") if x]:
        for rate in [x for x in args.rates.split(",") if x]:
            if not (args.data / ds / rate / "test.labels.tsv").exists():
                p.error(f"{args.data / ds / rate}: no read set (run bench/embed_data.py)")
            for method in methods:
                r = evaluate(ds, rate, method, args)
                print(
                    f"{ds} {rate} {method}: accuracy {r.accuracy:.3f}", file=sys.stderr, flush=True
                )
                results.append(r)
    text = table(results)
    print(text, end="")
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
