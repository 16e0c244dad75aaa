"""Config validation: every mistake names the key and what is allowed."""

from __future__ import annotations

import pytest

from seqray.errors import ConfigError
from seqray.pipeline.config import load_config, parse_config, parse_size
from seqray.pipeline.definition import Pipeline

GOOD = {"output": "o", "stages": [{"read": {"paths": ["x.fq"]}}, {"write": {}}]}


def test_good_config_and_defaults():
    cfg = parse_config(GOOD)
    assert cfg.stage_names() == ["read", "write"]
    assert cfg.run.runner == "auto" and cfg.run.on_error == "fail"


@pytest.mark.parametrize(
    "data, message",
    [
        ({**GOOD, "outptu": "x"}, r"unknown key\(s\) \['outptu'\]"),
        ({"output": "o", "stages": []}, "'stages' must be a non-empty list"),
        (
            {"output": "o", "stages": [{"read": {"paths": ["x"]}}, {"filtr": {}}]},
            "stages\\[1\\]: unknown stage 'filtr'; allowed: .*inspect.*read.*write",
        ),
        (
            {"output": "o", "stages": [{"read": {"paths": ["x"], "phred": 33}}, {"write": {}}]},
            r"stages\[0\]\.read\.phred: unknown key",
        ),
        (
            {"output": "o", "stages": [{"read": {"paths": ["x"]}}, {"write": {"format": "xls"}}]},
            r"stages\[1\]\.write\.format: unknown format 'xls'; allowed: fastq, fasta, parquet",
        ),
        (
            {**GOOD, "run": {"on_error": "ignore"}},
            r"run\.on_error: Input should be 'fail' or 'skip'",
        ),
        ({**GOOD, "run": {"chunk_bytes": "lots"}}, r"run\.chunk_bytes: .*not a size"),
        (
            {"output": "o", "stages": [{"inspect": {}}, {"write": {}}]},
            "the first stage, and only the first, must be 'read'",
        ),
        ({"output": "o", "stages": [{"read": {"paths": ["x"]}}]}, "add a 'write' stage"),
        ({"stages": GOOD["stages"]}, "output: Input should be a valid string"),
    ],
)
def test_bad_configs_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_yaml_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("output: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(p))
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(tmp_path / "missing.yaml"))


def test_sizes():
    assert parse_size("64MiB") == 64 << 20
    assert parse_size("1.5 GB") == 1_500_000_000
    assert parse_size(123) == 123
    with pytest.raises(ValueError):
        parse_size("12 parsecs")


def test_output_hash_ignores_runner_settings():
    a = parse_config({**GOOD, "run": {"runner": "ray", "num_cpus": 4}})
    b = parse_config(GOOD)
    c = parse_config({**GOOD, "run": {"chunk_bytes": 1000}})
    assert a.output_hash() == b.output_hash() != c.output_hash()


def test_parquet_output_cannot_be_a_single_file():
    data = {
        "output": "o",
        "stages": [
            {"read": {"paths": ["x"]}},
            {"write": {"format": "parquet", "single_file": True}},
        ],
    }
    # a check across the stage's keys is reported at the stage, without pydantic's wording
    with pytest.raises(ConfigError, match=r"stages\[1\]\.write: single_file is for fastq/fasta"):
        parse_config(data)


@pytest.mark.parametrize(
    "after, ok",
    [
        ({"write": {"format": "parquet"}}, True),
        ({"write": {"format": "fastq"}}, False),
        ({"qc": {}}, False),
        ({"count": {"k": 5}}, False),
    ],
)
def test_stages_that_need_reads_cannot_follow_tokenize(after, ok):
    stages = [{"read": {"paths": ["x"]}}, {"tokenize": {"k": 3}}, after]
    if not after.get("write"):
        stages.append({"write": {"format": "parquet"}})
    cfg = parse_config({"output": "o", "stages": stages})
    if ok:
        assert Pipeline.from_config(cfg).names == ["read", "tokenize", "write"]
    else:
        name = next(iter(after))
        # both stages and both kinds are named
        with pytest.raises(
            ConfigError,
            match=rf"stages\[2\] \({name}\) takes reads, but stages\[1\] \(tokenize\) "
            "before it gives tokens",
        ):
            Pipeline.from_config(cfg)
