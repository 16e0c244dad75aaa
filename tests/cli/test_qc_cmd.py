"""`seqray qc -o`: only the files the user named are left behind (the run's record lives
in a hidden directory beside out1 while the run may need it), and '.' in reads is kept as
fastp keeps it unless --dots-to-n."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from seqray.cli.main import main
from seqray.cli.qc_cmd import hidden_run_dir

from ..conftest import write_random_fastq


def _tree(root: Path) -> dict[str, str]:
    """Every entry below `root` (hidden ones too) → sha256 of a file, "dir" for a directory."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture
def user_dir(tmp_path):
    """A user's directory: reads, and files of theirs beside where the outputs go."""
    d = tmp_path / "data"
    d.mkdir()
    write_random_fastq(d / "reads.fq", 600, seed=5)
    (d / "notes.txt").write_text("keep me\n")
    (d / ".hidden-of-theirs").write_text("mine too\n")
    return d


def test_qc_leaves_only_the_files_named(user_dir, tmp_path):
    before = _tree(user_dir)
    out, report = user_dir / "clean.fq.gz", user_dir / "qc.json"
    args = ["qc", "-i", str(user_dir / "reads.fq"), "-o", str(out), "-j", str(report)]
    assert main(args) == 0
    after = _tree(user_dir)
    assert set(after) == set(before) | {"clean.fq.gz", "qc.json"}
    assert {k: after[k] for k in before} == before  # the user's files untouched
    # the same reads as a run that keeps its manifest elsewhere
    kept = tmp_path / "kept.fq.gz"
    assert main([*args[:3], "-o", str(kept), "--outdir", str(tmp_path / "run")]) == 0
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(kept.read_bytes())
    assert (tmp_path / "run" / "manifest.json").is_file()  # an --outdir given is kept


def test_a_rerun_refuses_to_replace_what_it_cannot_show_it_wrote(user_dir, capsys):
    out = user_dir / "clean.fq"
    args = ["qc", "-i", str(user_dir / "reads.fq"), "-o", str(out)]
    assert main(args) == 0
    first = _tree(user_dir)
    for extra in ([], ["--overwrite"]):
        assert main([*args, *extra]) == 1
        err = _err(capsys)
        assert "clean.fq: already exists" in err and "--keep-manifest" in err
        assert _tree(user_dir) == first


def test_keep_manifest_keeps_the_record_where_it_always_was(user_dir):
    out = user_dir / "clean.fq"
    args = ["qc", "-i", str(user_dir / "reads.fq"), "-o", str(out), "--keep-manifest"]
    assert main(args) == 0
    assert (user_dir / "clean.fq.seqray" / "manifest.json").is_file()
    assert not Path(hidden_run_dir(str(out))).exists()
    assert main([*args, "--overwrite"]) == 0


def test_a_failed_run_keeps_its_hidden_record_for_resume(user_dir, capsys):
    bad = user_dir / "bad.fq"
    bad.write_text("@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nII\n")  # r2: quality too short
    out = user_dir / "clean.fq"
    args = ["qc", "-i", str(user_dir / "reads.fq"), "-i", str(bad), "-o", str(out)]
    assert main(args) == 1
    assert "bad.fq" in _err(capsys)
    state = Path(hidden_run_dir(str(out)))
    assert state.name == ".clean.fq.seqray" and (state / "_seqray" / "run.json").is_file()
    assert not out.exists()
    assert main(args) == 1
    assert "an interrupted run is there" in _err(capsys)


def test_a_foreign_file_in_the_record_keeps_it_and_is_named(user_dir, capsys, monkeypatch):
    """The record is removed only when it holds nothing but the run's own files."""
    import seqray.pipeline.ownership as ownership

    real = ownership.discard_finished_run

    def planted(output: str) -> int:
        Path(output, "theirs.txt").write_text("x")
        return real(output)

    monkeypatch.setattr(ownership, "discard_finished_run", planted)
    out = user_dir / "clean.fq"
    assert main(["qc", "-i", str(user_dir / "reads.fq"), "-o", str(out)]) == 0
    state = Path(hidden_run_dir(str(out)))
    assert (state / "theirs.txt").read_text() == "x" and (state / "manifest.json").is_file()
    assert "theirs.txt" in _err(capsys)


def test_dots_are_kept_unless_dots_to_n(tmp_path):
    src = tmp_path / "dots.fq"
    src.write_text("@r1\nAC.GTACGTAGCTAGCTAG.\n+\nIIIIIIIIIIIIIIIIIIII\n")
    assert main(["qc", "-i", str(src), "-o", str(tmp_path / "a.fq"), "-A", "-G"]) == 0
    assert (tmp_path / "a.fq").read_text().splitlines()[1] == "AC.GTACGTAGCTAGCTAG."
    b = tmp_path / "b.fq"
    assert main(["qc", "-i", str(src), "-o", str(b), "-A", "-G", "--dots-to-n"]) == 0
    assert b.read_text().splitlines()[1] == "ACNGTACGTAGCTAGCTAGN"


def test_bgzf_and_fastps_compression_level(user_dir, tmp_path, capsys):
    """--bgzf writes the same reads as gzip, as BGZF; -z takes fastp's 1..9 onto isal's
    0..3 (fastp's default 4 is isal 1, the level seqray used before -z)."""
    from seqray.io.compression import Compression, detect_compression
    from seqray.io.formats.bgzf_groups import EOF
    from seqray.io.formats.gzip_groups import label

    reads = str(user_dir / "reads.fq")
    keep = ["-Q", "-L", "-n", "500"]  # random reads: let them pass
    outs = {}
    runs = {"gz": [], "z1": ["-z", "1"], "z9": ["-z", "9"], "bgzf": ["--bgzf"]}
    runs["bgzf9"] = ["--bgzf", "--compression", "9"]
    for name, extra in runs.items():
        out = tmp_path / f"{name}.fq.gz"
        assert main(["qc", "-i", reads, "-o", str(out), *keep, *extra]) == 0
        outs[name] = out.read_bytes()
    text = gzip.decompress(outs["gz"])
    assert text.count(b"\n") > 4 * 500
    assert all(gzip.decompress(data) == text for data in outs.values())
    assert [label(outs[n])[2] for n in ("gz", "z1", "z9")] == [1, 0, 3]  # type: ignore[index]
    assert detect_compression(outs["gz"]) == Compression.GZIP
    for name in ("bgzf", "bgzf9"):
        assert detect_compression(outs[name]) == Compression.BGZF
        assert outs[name].endswith(EOF) and outs[name].count(EOF) == 1
    assert outs["bgzf"] != outs["bgzf9"]
    assert main(["qc", "-i", reads, "-o", str(tmp_path / "plain.fq"), "--bgzf"]) == 2
    assert "name the output files .gz" in _err(capsys)
    assert main(["qc", "-i", reads, "-o", str(tmp_path / "x.fq.gz"), "-z", "0"]) == 2


def test_umi_flags_move_the_umi_into_the_name(tmp_path, capsys):
    src = tmp_path / "u.fq"
    src.write_text("@r1 1:N:0:AAAA\nACGTTTGCAGCTAGCTAGCATCGA\n+\nIIIIIIIIIIIIIIIIIIIIIIII\n")
    out = tmp_path / "o.fq"
    args = ["qc", "-i", str(src), "-o", str(out), "-A", "-G", "-U", "--umi_loc", "READ1"]
    assert main([*args, "--umi_len", "4", "--umi_prefix", "UMI", "--umi_skip", "1"]) == 0
    name, seq = out.read_text().splitlines()[:2]
    assert name == "@r1:UMI_ACGT 1:N:0:AAAA" and seq == "TGCAGCTAGCTAGCATCGA"  # 4 + 1 skipped
    assert main([*args[:3], "-o", str(tmp_path / "p.fq"), "-U", "--umi_loc", "read1"]) == 2
    assert "umi_len between 1 and 100" in _err(capsys)


def test_correction_on_single_end_input_warns_and_is_ignored(user_dir, tmp_path, capsys):
    reads = str(user_dir / "reads.fq")
    a, b = tmp_path / "a.fq", tmp_path / "b.fq"
    assert main(["qc", "-i", reads, "-o", str(a)]) == 0
    _err(capsys)
    assert main(["qc", "-i", reads, "-o", str(b), "-c"]) == 0  # fastp warns, and goes on
    assert "base correction (-c) needs paired reads" in _err(capsys)
    assert a.read_bytes() == b.read_bytes()
