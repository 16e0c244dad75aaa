"""`seqray.pipeline.manifest.load`: the contract downstream jobs read, validated."""

from __future__ import annotations

import hashlib
import json

import pytest

from seqray.errors import ManifestError
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.pipeline.manifest import MANIFEST_VERSION, load


@pytest.fixture(scope="module")
def finished(tmp_path_factory, examples):
    out = tmp_path_factory.mktemp("m") / "o"
    cfg = parse_config(
        {
            "output": str(out),
            "stages": [
                {"read": {"paths": [str(examples / "phix_R1.fastq.gz")]}},
                {"inspect": {}},
                {"write": {"format": "parquet"}},
            ],
        }
    )
    run_pipeline(cfg, runner="local")
    return out


def test_load_gives_a_finished_runs_manifest(finished):
    m = load(str(finished))
    assert m.manifest_version == MANIFEST_VERSION and m.complete
    assert m == load(str(finished / "manifest.json"))  # the directory or the file
    assert m.stages["read"].rows_out == 2000 and m.stages["read"].gives == "reads"
    assert [c.records for c in m.chunks] == [2000]
    # every output listed is there with the size and sha256 listed
    for entry in [*m.shards, *m.files]:
        path = entry.uri
        data = open(path, "rb").read()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry.bytes, entry.sha256)
    assert {s.stage for s in m.shards} == {"write"}


def _edited(finished, tmp_path, edit) -> str:
    data = json.loads((finished / "manifest.json").read_text())
    edit(data)
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(data))
    return str(p)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(manifest_version=MANIFEST_VERSION + 1), "a newer seqray wrote it"),
        (lambda d: d.update(manifest_version=1), "written by an older seqray"),
        (lambda d: d.update(complete=False), "the run did not finish"),
        (lambda d: d["shards"][0].pop("sha256"), r"shards\.0\.sha256: Field required"),
        (lambda d: d["shards"][0].update(bytes=-1), r"shards\.0\.bytes"),
        (lambda d: d["stages"]["read"].pop("rows_in"), r"stages\.read\.rows_in"),
    ],
)
def test_a_damaged_manifest_is_an_error_naming_file_and_field(finished, tmp_path, edit, message):
    path = _edited(finished, tmp_path, edit)
    with pytest.raises(ManifestError, match=message) as e:
        load(path)
    assert path in str(e.value)


def test_no_manifest_or_not_json(tmp_path):
    with pytest.raises(ManifestError, match="no manifest there"):
        load(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load(str(tmp_path))


def test_resume_refuses_a_journal_of_another_version(tmp_path, examples):
    from seqray.errors import ResumeError

    cfg = parse_config(
        {
            "output": str(tmp_path / "o"),
            "stages": [{"read": {"paths": [str(examples / "phix_R1.fastq.gz")]}}, {"write": {}}],
        }
    )
    run_pipeline(cfg, runner="local")
    marker = tmp_path / "o" / "_seqray" / "run.json"
    header = json.loads(marker.read_text())
    assert header["journal_version"] == 2
    del header["journal_version"]  # as seqray before typed journals wrote it
    marker.write_text(json.dumps(header))
    with pytest.raises(ResumeError, match="started by another seqray version"):
        run_pipeline(cfg, resume=True, runner="local")


def test_resume_of_a_finished_run_reports_its_counters_in_stage_order(finished):
    cfg = parse_config(json.loads((finished / "manifest.json").read_text())["config"])
    r = run_pipeline(cfg, resume=True, runner="local")
    assert r.verified and list(r.counters) == ["read", "inspect", "write"]
    assert r.counters["read"].rows_out == 2000
    assert r.counters["inspect"].measures == {"bases_in": 300_000, "bases_out": 300_000}
    assert r.kinds["inspect"] == ("reads", "reads")
