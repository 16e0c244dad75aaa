"""Golden outputs: the sha256 of every file each pipeline writes, recorded in goldens.json.

The guard rail of the pipeline redesign (issue 12): the demo pipeline and one pipeline per
user-facing stage, on single-end and paired input, with the default and a small
`run.chunk_bytes` (several chunks, pairs split across them), on the local runner (here) and
on the Ray runner (`integration`), must keep writing byte-identical files. One golden per
(case, layout, chunk size) serves both runners. Every file in the output directory is
hashed, and the `files:` targets outside it (keyed by their path relative to the output
directory, `../ext/...`), except `manifest.json` and the run's `_seqray/` state.

Regenerate deliberately, after checking that a change of output is intended:

    PYTHONPATH=$PWD/src python -m tests.pipeline.test_goldens --update

It reruns every case on the local runner and rewrites goldens.json (with the list of files
that differ by chunk size); then run this file with `-m integration` too, so the Ray runner
is checked against the new goldens.

Chunk size, as recorded (goldens.json `chunk_size_dependent`, checked against the goldens):
Parquet shards (one per chunk: boundaries and count), sharded FASTQ (one file per chunk) and
single gzip FASTQ (one gzip member per chunk) differ; single plain FASTQ/FASTA, stats.json,
the qc reports, correction.json, the k-mer counts, histo.txt, summary.json and every
tokenizer export, the trained bpe tokenizer.json included (its sample is drawn by read
identity), do not.

Normalisation (only this): the exact `seqray.__version__` string (a git-describe version
with a date when the checkout is dirty) is replaced by `<seqray-version>` before hashing; it
appears in qc.json (`summary.fastp_version`) and qc.html. goldens.json lists, per case, the
files that held it, and that list is checked too.

The goldens hold for the dependency versions of the environment they were recorded in:
pyarrow writes its version into every Parquet file (`created_by`), and the gzip (isal),
zstd and `tokenizers` outputs may change with theirs. Upgrading one is, like an intended
change of output, a reason to regenerate, in a commit of its own.

The inputs live at a fixed path (INPUT_DIR): Parquet shards, stats.json and the qc reports
record each read's absolute input URI, so inputs in pytest's tmp_path (or in the checkout)
would give different bytes on every run. They are derived from examples/data (see
`_input_texts`), written atomically and reused when intact.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from seqray import __version__
from seqray.pipeline.config import parse_config, relocate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
GOLDENS = Path(__file__).with_name("goldens.json")
INPUT_DIR = Path("/tmp/seqray-goldens-inputs-v1")  # fixed: the outputs record input URIs
VERSION_MARK = b"<seqray-version>"
SKIP = {"manifest.json"}  # and the `_seqray/` state directory
# files named or filled by the moment they were made: job logs (job ids), manifests (times)
SKIP_PATTERNS = ("hpc/logs/*", "hpc/*/manifest.json")
# files whose bytes come from floating-point training (fastmath Numba code compiled for the
# host CPU may round differently on another CPU): recorded as present, not by hash; their
# bytes are compared across runners on one machine in tests/embed/test_pipeline.py
FLOAT_OUTPUTS = (
    "embedding_model/vectors.npy",
    "embedding_model/model.json",
    "embedding_model/hash.npz",  # the LSH planes: an SVD (LAPACK) in floating point
    "vectors/*",
    "classifier_model/*",
    "predictions/*",  # scores from the trained classifier
)
FLOAT_MARK = "(floating point: not hashed)"
N_PHIX, N_REAL, DUP_EVERY = 300, 150, 10
# the default chunk size, and one that cuts the ~145 KB inputs into 6 chunks (R1 cut by
# bytes, R2 placed by record count: the pairs are split across chunks)
CHUNKS: dict[str, int | None] = {"default": None, "small": 24_000}
LAYOUTS = ("se", "pe")


def run_pipeline() -> Callable[..., Any]:
    """The driver's entry point, wherever the redesign puts it (a one-line change here)."""
    try:
        from seqray.pipeline import run_pipeline  # type: ignore[attr-defined]
    except ImportError:
        from seqray.pipeline.driver import run_pipeline
    return run_pipeline


# -- inputs ---------------------------------------------------------------------------


def _records(path: Path, n: int, phred64: bool = False) -> list[bytes]:
    """The first `n` FASTQ records of a gzipped file; Phred+64 qualities moved to +33."""
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    out = []
    for i in range(0, 4 * n, 4):
        name, seq, plus, qual = lines[i : i + 4]
        if phred64:
            qual = bytes(q - 31 for q in qual)
        out.append(b"\n".join([name, seq, plus, qual]) + b"\n")
    return out


def _input_texts() -> dict[str, bytes]:
    """Plain FASTQ pairs: 300 simulated phiX pairs (150 bp, clean: correction has coverage),
    then 150 real HiSeq pairs (100 bp, '.' for N, low-quality tails: QC filters and trims
    them), a renamed copy of pair i-7 after every tenth pair i (duplicate removal)."""
    out = {}
    for mate in ("1", "2"):
        recs = _records(EXAMPLES / f"phix_R{mate}.fastq.gz", N_PHIX)
        recs += _records(EXAMPLES / f"real_R{mate}.fastq.gz", N_REAL, phred64=True)
        body = []
        for i, rec in enumerate(recs):
            body.append(rec)
            if i % DUP_EVERY == DUP_EVERY - 1:
                body.append(b"@copy-of-%d/%s\n" % (i - 7, mate.encode()))
                body.append(recs[i - 7].split(b"\n", 1)[1])
        out[f"mixed_{mate}.fq"] = b"".join(body)
    for name in ("phix_R1.fastq.gz", "phix_R2.fastq.gz"):  # the demo's inputs, as they are
        out[f"examples/data/{name}"] = (EXAMPLES / name).read_bytes()
    # the classifier's references: phiX and a seeded random genome
    out["refs/phix.fa"] = (EXAMPLES / "phix174.fa").read_bytes()
    rng = np.random.default_rng(17)
    other = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 6000)].tobytes()
    out["refs/other.fa"] = b">other\n" + other + b"\n"
    return out


def _write_once(path: Path, data: bytes) -> None:
    """Leaves an intact file alone (another run may be reading it); else writes it
    atomically (write, then rename), so concurrent runs never see a partial file."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def make_inputs() -> Path:
    for name, data in _input_texts().items():
        _write_once(INPUT_DIR / name, data)
    return INPUT_DIR


# -- cases ----------------------------------------------------------------------------

QC_REPORTS = {"json_report": "{out}/qc.json", "html_report": "{out}/qc.html"}
PARQUET = {"write": {"format": "parquet"}}
TOKENS = {"write": {"format": "parquet", "path": "tokens"}}
PLAIN_FASTQ = {"write": {"format": "fastq", "compression": "none"}}  # chunk-invariant bytes

# one pipeline per user-facing stage (after `read`); "{out}" stands for the output directory,
# "{files}" for one file per mate in `ext/` beside it. Every stage accepts pairs (and each
# case runs both single-end and paired).
STAGES: dict[str, list[dict]] = {
    "inspect": [{"inspect": {}}, PLAIN_FASTQ],
    "qc": [
        {
            "qc": {
                "cut_front": True,
                "cut_tail": True,
                "length_required": 50,
                "trim_poly_x": True,
                "low_complexity_filter": True,
                **QC_REPORTS,
            }
        },
        PLAIN_FASTQ,
    ],
    "qc-dedup": [{"qc": {"dedup": True, "cut_tail": True, **QC_REPORTS}}, PLAIN_FASTQ],
    "dedup": [{"dedup": {"dup_count": True}}, PARQUET],
    "count": [{"count": {"k": 21, "canonical": True, "text": True, "partitions": 4}}],
    "correct": [{"correct": {"k": 21}}, PARQUET],
    "tokenize-kmer": [{"tokenize": {"scheme": "kmer", "k": 4, "stride": 2}}, TOKENS],
    "tokenize-dnabert": [
        {"tokenize": {"scheme": "kmer", "k": 6, "max_length": 64, "overlap": 8, "padding": True}},
        TOKENS,
    ],
    "tokenize-nt6": [{"tokenize": {"scheme": "nt6"}}, TOKENS],
    "tokenize-bpe": [
        {"tokenize": {"scheme": "bpe", "vocab_size": 64, "sample_reads": 300}},
        TOKENS,
    ],
    "embed": [
        {
            "train_embeddings": {
                "hash": "lsh",
                "k": 11,
                "hash_bits": 12,
                "dim": 8,
                "epochs": 1,
                "threads": 2,
            }
        },
        {"embed": {}},
        {"write": {"format": "parquet", "path": "vectors"}},
    ],
    "classify": [
        {
            "train_classifier": {
                "references": {
                    "phix": ["{inputs}/refs/phix.fa"],
                    "other": ["{inputs}/refs/other.fa"],
                },
                "dim": 8,
                "epochs": 2,
            }
        },
        {"classify": {"top": 2}},
        {"write": {"format": "parquet", "path": "predictions"}},
    ],
    # a job on the local executor, after the shards are written: the rows it was handed
    "hpc": [
        PARQUET,
        {
            "hpc": {
                "command": [
                    sys.executable,
                    "-c",
                    "import json, sys; m = json.load(open(sys.argv[1])); "
                    "open(sys.argv[2], 'w').write(str(sum(s['rows'] for s in m['shards'])))",
                    "{manifest}",
                    "rows.txt",  # in the job's working directory, its result/
                ]
            }
        },
    ],
    "write-parquet": [PARQUET],
    "write-fastq-gzip": [{"write": {"format": "fastq", "compression": "gzip"}}],
    "write-fastq-plain-sharded": [
        {"write": {"format": "fastq", "compression": "none", "single_file": False}}
    ],
    "write-fasta-files": [{"write": {"format": "fasta", "files": "{files}"}}],
}
CASES = ["demo"] + [f"{s}/{layout}/{c}" for s in STAGES for layout in LAYOUTS for c in CHUNKS]


def _fill(value: Any, out: Path, paired: bool) -> Any:
    if value == "{files}":  # one file per mate, outside the output directory
        ext = out.parent / "ext"
        return (
            [str(ext / f"reads_R{m}.fasta") for m in (1, 2)]
            if paired
            else [str(ext / "reads.fasta")]
        )
    if isinstance(value, str):
        return value.replace("{out}", str(out)).replace("{inputs}", str(INPUT_DIR))
    if isinstance(value, dict):
        return {k: _fill(v, out, paired) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, out, paired) for v in value]
    return value


def case_config(case: str, out: Path):
    """The PipelineConfig of a case, writing to `out`."""
    inputs = make_inputs()
    if case == "demo":  # examples/demo.yaml as scripts/demo.sh runs it, inputs relocated
        data = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
        source = data["stages"][0]["read"]
        for key in ("paths", "mate_paths"):
            source[key] = [str(inputs / p) for p in source[key]]
        return relocate(parse_config(data, source="examples/demo.yaml"), str(out))
    stage, layout, chunk = case.split("/")
    read: dict[str, Any] = {"paths": [str(inputs / "mixed_1.fq")]}
    if layout == "pe":
        read["mate_paths"] = [str(inputs / "mixed_2.fq")]
    run = {} if CHUNKS[chunk] is None else {"chunk_bytes": CHUNKS[chunk]}
    stages = [{"read": read}, *_fill(STAGES[stage], out, layout == "pe")]
    return parse_config({"output": str(out), "run": run, "stages": stages}, source=case)


# -- running and hashing --------------------------------------------------------------


def output_hashes(out: Path) -> tuple[dict[str, str], list[str]]:
    """{path relative to `out`: sha256} of every file written in `out` and in its sibling
    `ext/` (the `files:` targets), and the files whose version string was normalised."""
    found = sorted(
        p for p in out.rglob("*") if p.is_file() and "_seqray" not in p.relative_to(out).parts
    )
    ext = out.parent / "ext"
    found += sorted(p for p in ext.rglob("*") if p.is_file()) if ext.is_dir() else []
    hashes, normalized = {}, []
    for p in found:
        rel = os.path.relpath(p, out)
        if rel in SKIP or any(fnmatch.fnmatch(rel, pattern) for pattern in SKIP_PATTERNS):
            continue
        if any(fnmatch.fnmatch(rel, pattern) for pattern in FLOAT_OUTPUTS):
            hashes[rel] = FLOAT_MARK
            continue
        data = p.read_bytes()
        if __version__.encode() in data:
            data = data.replace(__version__.encode(), VERSION_MARK)
            normalized.append(rel)
        hashes[rel] = hashlib.sha256(data).hexdigest()
    return hashes, normalized


def run_case(case: str, workdir: Path, runner: str) -> tuple[dict[str, str], list[str]]:
    out = workdir / "out"
    result = run_pipeline()(case_config(case, out), runner=runner)
    assert result.runner == runner
    return output_hashes(out)


def differences(case: str, expected: dict[str, str], got: dict[str, str]) -> list[str]:
    lines = []
    for path in sorted(set(expected) | set(got)):
        e, g = expected.get(path, "(no file)"), got.get(path, "(no file)")
        if e != g:
            lines.append(f"{case}: {path}: expected {e}, got {g}")
    return lines


def chunk_dependent(cases: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Per stage/layout, the files whose bytes (or existence) differ between chunk sizes."""
    out = {}
    for stage in STAGES:
        for layout in LAYOUTS:
            a, b = (cases[f"{stage}/{layout}/{c}"] for c in CHUNKS)
            diff = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
            if diff:
                out[f"{stage}/{layout}"] = diff
    return out


def load_goldens() -> dict:
    return json.loads(GOLDENS.read_text())


def check(case: str, tmp_path: Path, runner: str) -> None:
    goldens = load_goldens()
    hashes, normalized = run_case(case, tmp_path, runner)
    assert hashes, f"{case}: the run wrote nothing"
    problems = differences(case, goldens["cases"][case], hashes)
    if normalized != goldens["normalized"].get(case, []):
        problems.append(
            f"{case}: files holding the seqray version: expected "
            f"{goldens['normalized'].get(case, [])}, got {normalized}"
        )
    assert not problems, (
        f"{runner} runner: outputs differ from tests/pipeline/goldens.json (regenerate only "
        "if the change is intended: python -m tests.pipeline.test_goldens --update)\n"
        + "\n".join(problems)
    )


# -- tests ----------------------------------------------------------------------------


def test_goldens_cover_every_stage():
    from seqray.pipeline.catalog import load_stages
    from seqray.pipeline.registry import stage_names

    load_stages()
    covered = {"read", "write"} | {name for s in STAGES.values() for st in s for name in st}
    assert set(stage_names()) == covered, "a new stage needs its golden case"
    assert set(load_goldens()["cases"]) == set(CASES), "goldens.json is stale: --update"


def test_chunk_dependent_list_is_true():
    """The recorded list of chunk-size-dependent files is what the goldens show."""
    goldens = load_goldens()
    assert goldens["chunk_size_dependent"] == chunk_dependent(goldens["cases"])


def test_small_chunks_split_the_pairs(tmp_path):
    """The default chunk size reads each input whole; the small one cuts the pairs into
    several chunks (else the two sizes would test the same thing)."""
    for chunk, want in (("default", 1), ("small", 7)):
        config = case_config(f"write-parquet/pe/{chunk}", tmp_path / chunk)
        assert run_pipeline()(config, runner="local").chunks == want


@pytest.mark.parametrize("case", CASES)
def test_golden_local(case, tmp_path):
    check(case, tmp_path, "local")


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES)
def test_golden_ray(case, tmp_path, ray_cluster):
    check(case, tmp_path, "ray")


# -- regeneration ---------------------------------------------------------------------


def update() -> None:
    cases, normalized = {}, {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seqray-goldens-") as tmp:
        for i, case in enumerate(CASES):
            hashes, norm = run_case(case, Path(tmp) / str(i), "local")
            cases[case] = hashes
            if norm:
                normalized[case] = norm
    dependent = chunk_dependent(cases)
    body = {
        "about": (
            "sha256 of every output file per case (tests/pipeline/test_goldens.py); "
            "regenerate with: python -m tests.pipeline.test_goldens --update"
        ),
        "normalized": normalized,
        "chunk_size_dependent": dependent,
        "cases": cases,
    }
    GOLDENS.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDENS} ({len(cases)} cases, {time.perf_counter() - t0:.1f} s)")
    print("files that differ by chunk size:")
    for key, paths in dependent.items():
        print(f"  {key}: {', '.join(paths)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite goldens.json")
    if not parser.parse_args().update:
        sys.exit("nothing to do: pass --update to rewrite goldens.json (pytest checks them)")
    update()
