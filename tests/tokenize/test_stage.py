"""The tokenize stage in pipelines and the CLI: shards and statistics against independent
counts, both runners byte-identical, BPE trained in a prepare pass, errors and exit codes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from seqray.cli.main import main
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import assert_user_error, flat, write_random_fastq
from ..peers import require_module
from . import reference as ref


def _config(out: Path, paths, tokenize: dict, mates=None) -> dict:
    read = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    return {
        "output": str(out),
        "run": {"chunk_bytes": 20000, "block_bases": 5000},
        "stages": [
            {"read": read},
            {"tokenize": tokenize},
            {"write": {"format": "parquet", "path": "tokens"}},
        ],
    }


def _tokens(out: Path):
    import pyarrow as pa

    return pa.concat_tables(pq.read_table(p) for p in sorted((out / "tokens").glob("*.parquet")))


def _fastq_seqs(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return [line.rstrip("\n") for i, line in enumerate(f) if i % 4 == 1]


def test_kmer_run_matches_reference_and_counts(tmp_path):
    fq = write_random_fastq(tmp_path / "a.fq", 400, max_len=120)
    tk = {"scheme": "kmer", "k": 4, "max_length": 40, "overlap": 5}
    r = run_pipeline(parse_config(_config(tmp_path / "o", [fq], tk)), runner="local")
    t = _tokens(tmp_path / "o").to_pydict()
    seqs = _fastq_seqs(fq)
    by_read: dict[int, list] = {}
    for rec, win, ids in zip(t["record"], t["window"], t["input_ids"]):
        assert ids[0] == 2 and ids[-1] == 3 and len(ids) <= 40
        by_read.setdefault(rec, []).append((win, ids[1:-1]))
    assert sorted(by_read) == list(range(400))  # every read has rows
    all_ids = []
    for rec, wins in by_read.items():
        full = ref.kmer_ids(seqs[rec], 4)
        all_ids += full
        rebuilt: list[int] = []
        for w, ids in sorted(wins):
            rebuilt = rebuilt[: w * 33] + ids
        assert rebuilt == full
    rep = r.reports["tokenize"]
    assert rep["tokens"] == len(all_ids)
    assert rep["unk_tokens"] == all_ids.count(1)
    assert rep["distinct_tokens"] == len(set(all_ids))
    assert rep["vocab_coverage"] == round(len(set(all_ids) - {1}) / 256, 6)
    lens = [len(ref.kmer_ids(s, 4)) for s in seqs]
    assert rep["tokens_per_read"] == {
        "mean": round(sum(lens) / 400, 3), "min": min(lens), "max": max(lens)
    }  # fmt: skip
    assert rep["rows"] == len(t["record"])
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["reports"]["tokenize"]["tokens"] == rep["tokens"]
    assert (tmp_path / "o" / "tokenizer" / "tokenizer.json").exists()


@pytest.mark.integration
def test_runners_write_identical_token_shards(tmp_path, ray_cluster, examples):
    fq = write_random_fastq(tmp_path / "a.fq", 1500, max_len=200)
    got = {}
    for runner in ("local", "ray"):
        tk = {"scheme": "nt6", "max_length": 16, "overlap": 2, "padding": True}
        cfg = _config(tmp_path / runner, [fq], tk)
        run_pipeline(parse_config(cfg), runner=runner)
        got[runner] = {
            p.name: p.read_bytes() for p in sorted((tmp_path / runner / "tokens").glob("*"))
        }
    assert len(got["local"]) > 3 and got["local"] == got["ray"]


def test_paired_bpe_run_trains_in_prepare_pass(tmp_path, examples):
    cfg = _config(
        tmp_path / "o",
        [examples / "phix_R1.fastq.gz"],
        {"scheme": "bpe", "vocab_size": 150, "sample_reads": 500},
        mates=[examples / "phix_R2.fastq.gz"],
    )
    r = run_pipeline(parse_config(cfg), runner="local")
    t = _tokens(tmp_path / "o")
    assert t.num_rows == 4000 and set(t.column("mate").to_pylist()) == {1, 2}
    tok_dir = tmp_path / "o" / "tokenizer"
    assert r.reports["tokenize"]["vocab_size"] == 150
    from seqray.tokenize.hf_export import load_tokenizer

    tok = load_tokenizer(str(tok_dir))
    seqs1 = _fastq_seqs(examples / "phix_R1.fastq.gz")
    first = t.slice(0, 1).to_pydict()
    assert first["record"] == [0] and first["mate"] == [1]
    assert first["input_ids"][0] == tok.encode(seqs1[0])
    # the same run again trains the same model: the shards are identical
    run_pipeline(parse_config({**cfg, "output": str(tmp_path / "p")}), runner="local")
    assert (tmp_path / "o" / "tokens").is_dir()
    for p in sorted((tmp_path / "o" / "tokens").glob("*.parquet")):
        assert p.read_bytes() == (tmp_path / "p" / "tokens" / p.name).read_bytes()


def test_cli_tokenize_and_export(tmp_path, examples, capsys):
    require_module("transformers")
    out = tmp_path / "o"
    rc = main(
        [
            "tokenize",
            str(examples / "phix_R1.fastq.gz"),
            "-o",
            str(out),
            "--scheme",
            "kmer",
            "--k",
            "6",
            "--max-length",
            "64",
            "--padding",
            "--runner",
            "local",
        ]
    )
    assert rc == 0
    t = _tokens(out)
    assert t.column_names[-2:] == ["input_ids", "attention_mask"]
    assert all(len(x) == 64 for x in t.column("input_ids").to_pylist())
    err = capsys.readouterr().err
    assert "vocabulary coverage" in err and "[UNK] rate" in err
    assert main(["tokenizer", "export", "--scheme", "protein", str(tmp_path / "e")]) == 0
    import transformers

    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "e"))
    assert hf("M K T")["input_ids"] == [2, 21, 12, 15, 3]


@pytest.mark.parametrize(
    "args, names",
    [
        pytest.param(
            ["--scheme", "kmer", "--k", "9"],
            ("--k", "9"),
            id="k9",
        ),
        pytest.param(
            ["--scheme", "dna9"],
            ("--scheme", "dna9"),
            id="dna9",
        ),
        pytest.param(["--runner", "nowhere"], ("--runner", "nowhere"), id="runner"),
    ],
)
def test_cli_invalid_option_values(tmp_path, examples, capsys, args, names):
    """A bad option value is refused before anything is read (the exit code is the option
    handling's: usage, 2), with a message naming the option or the value given."""
    fq = str(examples / "phix_R1.fastq.gz")
    assert main(["tokenize", fq, "-o", str(tmp_path / "a"), *args]) != 0
    assert not (tmp_path / "a").exists()
    err = flat(capsys.readouterr().err)
    assert_user_error(err)
    assert any(n in err for n in names), err


def test_cli_errors(tmp_path, examples, capsys):
    assert main(["tokenizer", "export", "--scheme", "bpe", str(tmp_path / "c")]) == 2
    assert_user_error(capsys.readouterr().err, "--train", "bpe")
    assert not (tmp_path / "c").exists()
    assert main(["tokenize", str(tmp_path / "missing.fq"), "-o", str(tmp_path / "d")]) == 1
    assert_user_error(capsys.readouterr().err, "missing.fq: no such file or directory")
    bad = tmp_path / "bad.fq"
    bad.write_text("@r1\nACGT\n+\nII\n")
    assert main(["tokenize", str(bad), "-o", str(tmp_path / "e"), "--runner", "local"]) == 1
    assert_user_error(
        capsys.readouterr().err, f"{bad}, record 1, line 4: sequence and quality lengths differ"
    )
    assert not (tmp_path / "e" / "manifest.json").exists()


@pytest.mark.integration
def test_tokenizer_in_ray_data_map_batches(ray_cluster, examples):
    import seqray
    from seqray.tokenize.schemes import make_tokenizer

    tok = make_tokenizer("kmer", k=5, max_length=32, overlap=4)
    ds = seqray.read_fastq(str(examples / "phix_R1.fastq.gz"))
    rows = ds.map_batches(tok, batch_format="pyarrow").take_all()
    seqs = _fastq_seqs(examples / "phix_R1.fastq.gz")
    first = sorted((r["record"], r["window"], list(r["input_ids"])) for r in rows)
    assert {r[0] for r in first} == set(range(len(seqs)))
    assert [r[2][1:-1] for r in first if r[0] == 0] == [
        ref.kmer_ids(seqs[0], 5)[w * 26 : w * 26 + 30]
        for w in range(len([r for r in first if r[0] == 0]))
    ]


def test_cli_tokenizes_protein_fasta(tmp_path):
    fa = tmp_path / "p.fasta"
    fa.write_text(">sp|P1|one\nMKTAYIAKQR\nQISFVKSHFS\n>sp|P2|two\nmkuoxbz*J\n")
    out = tmp_path / "o"
    args = ["tokenize", str(fa), "-o", str(out), "--scheme", "protein", "--runner", "local"]
    assert main(args) == 0
    t = _tokens(out).to_pydict()
    vocab = "[PAD] [UNK] [CLS] [SEP] [MASK] L A G V E S I K R D T P N Q F Y M H C W X U B Z O"
    index = {c: i for i, c in enumerate(vocab.split())}
    assert t["input_ids"][0] == [2, *(index[c] for c in "MKTAYIAKQRQISFVKSHFS"), 3]
    # read upper-cased; '*' and J are not residues of the vocabulary
    assert t["input_ids"][1] == [2, *(index[c] for c in "MKUOXBZ"), 1, 1, 3]
