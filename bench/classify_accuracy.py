"""Read-of-origin classification by seqray (issue 17, "Benchmarks"): trained on the reference
genomes only, scored on `bench/embed_data.py`'s held-out reads.

    python bench/classify_accuracy.py [--data bench/data/embed] [--datasets distinct,close]
        [--rates illumina,0.10,0.12,0.15]
        [--methods exact13,exact10,fnv15,lsh15,lsh15-noise,exact13-noise]
        [--epochs 10] [--dim 16] [--noise 0] [--cpus 0,1]
        [--workdir bench/data/classify/seqray] [--seqray "python -m seqray.cli.main"]
        [--json FILE]

For each dataset and method: `seqray classify train --reference LABEL=genomes/LABEL.fa ...`
(fragments sampled on the fly from the references, `--noise` mutations, `--epochs`), then
per error rate `seqray classify predict DATASET/RATE/test.fastq --model M` and the
predictions are compared with test.labels.tsv. Same reads, same folds and the same
columns as `bench/classify_peers.py` (Kraken 2, minimap2), so the tables sit side by side:
accuracy (correct / all reads), classified (reads given a label), precision, reads/s
(the whole `classify predict` command: start-up, model load, reading, writing), "build s"
(the whole `classify train` command), the model's size, and the peak RSS of prediction.

Methods (`--methods`), at equal id space 2^20 except exact13:
- `exact13`: exact canonical 13-mers (the default; one row per 13-mer of the references);
- `exact10`: exact canonical 10-mers (4^10 = 2^20 ids);
- `fnv15`: FNV-1a of 15-mers mod 2^20 buckets;
- `lsh15`: LSHvec's hash of 15-mers, 20 hyperplanes;
- `lsh15-noise`, `exact13-noise`: the same trained on fragments with `--noise 0.05,0.02`
  (5 % substitutions, 2 % indels), whatever `--noise` says.
Both tools run pinned to --cpus; times are one run each (use on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import _harness as H
import numpy as np
import pyarrow.parquet as pq
from classify_peers import UNCLASSIFIED, Result, score, table
from embed_accuracy import align, read_labels

HERE = Path(__file__).resolve().parent
METHODS = {
    "exact13": ["--hash", "exact", "--k", "13"],
    "exact10": ["--hash", "exact", "--k", "10"],
    "fnv15": ["--hash", "fnv", "--k", "15", "--hash-bits", "20"],
    "lsh15": ["--hash", "lsh", "--k", "15", "--hash-bits", "20"],
    "lsh15-noise": ["--hash", "lsh", "--k", "15", "--hash-bits", "20", "--noise", "0.05,0.02"],
    "exact13-noise": ["--hash", "exact", "--k", "13", "--noise", "0.05,0.02"],
}


def dir_bytes(path: Path) -> int:
    return sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file() and "_seqray" not in p.parts
    )


def train(ds: str, labels: list[str], method: str, args) -> tuple[Path, float, dict]:
    model = args.workdir / ds / f"model-{method}"
    refs = [f"--reference={lab}={args.data / 'genomes' / f'{lab}.fa'}" for lab in labels]
    cmd = [
        *args.seqray, "classify", "train", *refs, "-o", str(model),
        "--dim", str(args.dim), "--epochs", str(args.epochs), "--noise", args.noise,
        "--threads", str(len(args.cpu_list)), "--overwrite", "--quiet", *METHODS[method],
    ]  # fmt: skip
    s = H.run_once(H.Tool(f"train {method}", cmd, []), args.cpu_list)
    rep = json.loads((model / "manifest.json").read_text())["reports"]["train_classifier"]
    training = {
        "wall_s": round(s.wall_s, 2),
        "peak_rss_mib": round(s.peak_rss_mib, 1),
        "examples_per_second": rep["examples_per_second"],
        "trained_examples": rep["trained_examples"],
        "vocabulary": rep["vocabulary"],
        "table_mib": round(rep["table_bytes"] / 2**20, 1),
    }
    return model, s.wall_s, training


def predict(ds: str, rate: str, method: str, model: Path, args) -> tuple[np.ndarray, float, float]:
    d = args.data / ds / rate
    out = args.workdir / ds / f"pred-{method}-{rate}"
    cmd = [
        *args.seqray, "classify", "predict", str(d / "test.fastq"), "--model", str(model),
        "-o", str(out), "--threads", str(len(args.cpu_list)), "--overwrite", "--quiet",
    ]  # fmt: skip
    s = H.run_once(H.Tool(f"predict {method}", cmd, []), args.cpu_list)
    t = pq.read_table(out / "predictions", columns=["name", "label"])
    names = np.array([n.split()[0] for n in t.column("name").to_pylist()])
    calls = np.array(t.column("label").to_pylist(), dtype=object).astype(str)
    calls[calls == "unclassified"] = UNCLASSIFIED
    want = np.loadtxt(d / "test.labels.tsv", dtype=str, delimiter="\t", usecols=0)
    return align(names, want, calls, str(out)), s.wall_s, s.peak_rss_mib


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "data" / "embed")
    ap.add_argument("--datasets", default="distinct,close")
    ap.add_argument("--rates", default="illumina,0.10,0.12,0.15")
    ap.add_argument("--methods", default="exact13,exact10,fnv15,lsh15,lsh15-noise,exact13-noise")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--noise", default="0")
    ap.add_argument("--cpus", default="0,1")
    ap.add_argument("--workdir", type=Path, default=HERE / "data" / "classify" / "seqray")
    ap.add_argument("--seqray", default=f"{sys.executable} -m seqray.cli.main")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    args.cpu_list = [int(c) for c in args.cpus.split(",")]
    args.seqray = shlex.split(args.seqray)
    manifest = json.loads((args.data / "manifest.json").read_text())
    results: list[Result] = []
    extra = []
    for ds in args.datasets.split(","):
        labels = sorted(manifest["datasets"][ds]["labels"])
        for method in args.methods.split(","):
            model, build_s, training = train(ds, labels, method, args)
            size = dir_bytes(model)
            extra.append({"dataset": ds, "method": method, **training})
            print(f"{ds} {method}: training {json.dumps(training)}", file=sys.stderr)
            for rate in args.rates.split(","):
                tsv = args.data / ds / rate / "test.labels.tsv"
                names = np.loadtxt(tsv, dtype=str, delimiter="\t", usecols=0)
                truth = read_labels(tsv, names)
                calls, wall, rss = predict(ds, rate, method, model, args)
                amb = np.zeros(len(calls), bool)  # a softmax always names one label
                r = score(ds, rate, "seqray", method, truth, calls, amb, wall, (build_s, size), rss)
                results.append(r)
                print(
                    f"{ds} {rate} {method}: accuracy {r.accuracy:.4f}, {r.reads_per_s:,.0f} "
                    f"reads/s, train {build_s:.1f} s",
                    file=sys.stderr,
                )
    print(table(results))
    print(
        "| dataset | method | rows | table MiB | examples trained | examples/s | train s "
        "| peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for t in extra:
        print(
            f"| {t['dataset']} | {t['method']} | {t['vocabulary']:,} | {t['table_mib']} "
            f"| {t['trained_examples']:,} | {t['examples_per_second']:,.0f} | {t['wall_s']} "
            f"| {t['peak_rss_mib']:,.0f} |"
        )
    if args.json:
        body = {"results": [asdict(r) for r in results], "training": extra, "args": vars(args)}
        args.json.write_text(json.dumps(body, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
