"""Pipeline configuration (YAML) validated by pydantic, with errors that name the key."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError
from ..io.chunks import DEFAULT_CHUNK_BYTES
from ..io.fs import join
from ..io.parse import DEFAULT_BLOCK_BASES
from .catalog import load_stages
from .registry import StageConfig, stage_class, stage_names

load_stages()

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.I)
_UNITS = {
    "": 1,
    "B": 1,
    "K": 1e3,
    "KB": 1e3,
    "KIB": 2**10,
    "M": 1e6,
    "MB": 1e6,
    "MIB": 2**20,
    "G": 1e9,
    "GB": 1e9,
    "GIB": 2**30,
    "T": 1e12,
    "TB": 1e12,
    "TIB": 2**40,
}


def parse_size(v) -> int:
    if isinstance(v, int):
        return v
    m = _SIZE.match(str(v))
    if not m or (m.group(2) or "").upper() not in _UNITS:
        raise ValueError(f"not a size: {v!r} (use a number of bytes or e.g. '64MiB')")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])


class RunSettings(BaseModel):
    """How to run; only chunk_bytes, block_bases and on_error shape the outputs.
    `shared_output`: the (local) output is on a filesystem every node of the Ray cluster
    mounts at the same path (NFS, Lustre), so tasks on any node may write into it."""

    model_config = ConfigDict(extra="forbid")
    runner: Literal["auto", "local", "ray"] = "auto"
    address: str | None = None
    shared_output: bool = False
    num_cpus: int | None = Field(default=None, ge=1)
    chunk_bytes: int = Field(default=DEFAULT_CHUNK_BYTES, ge=1)
    block_bases: int = Field(default=DEFAULT_BLOCK_BASES, ge=1)
    on_error: Literal["fail", "skip"] = "fail"

    @field_validator("chunk_bytes", "block_bases", mode="before")
    @classmethod
    def _size(cls, v):
        return parse_size(v)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    output: str
    run: RunSettings = RunSettings()
    stages: list[StageConfig]

    def stage_names(self) -> list[str]:
        return [type(s).stage_name for s in self.stages]

    def canonical(self) -> dict:
        return {
            "output": self.output,
            "run": self.run.model_dump(),
            "stages": [{type(s).stage_name: _stage_dump(s)} for s in self.stages],
        }

    def output_hash(self) -> str:
        """Hash of what decides the outputs (not the runner, address or CPU count)."""
        d = self.canonical()
        d["run"] = {k: d["run"][k] for k in ("chunk_bytes", "block_bases", "on_error")}
        d.pop("output")
        for entry in d["stages"]:  # where stages run does not shape what they write
            for body in entry.values():
                body.pop("resources", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _stage_dump(config: StageConfig) -> dict:
    d = config.model_dump()
    if d.get("resources") is None:
        d.pop("resources", None)  # the stage's own hints: not part of the config
    return d


def explain(prefix: str, exc: ValidationError) -> ConfigError:
    """One line per error: where (`stages[1].qc.length_required`; the stage itself for a
    check across its keys) and what is wrong, in words rather than pydantic's."""
    lines, fields = [], []
    for err in exc.errors():
        key = (prefix + ".".join(str(p) for p in err["loc"])).rstrip(".") or "config"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{key}: {msg}")
        fields.append((str(err["loc"][0]) if err["loc"] else "", msg))
    return ConfigError("invalid config: " + "; ".join(lines), fields)


def parse_config(data: dict, source: str = "config") -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping with 'output' and 'stages'")
    unknown = set(data) - {"output", "run", "stages"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)}; allowed: output, run, stages"
        )
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise ConfigError(f"{source}: 'stages' must be a non-empty list")
    stages = []
    kinds = []
    writes = []
    for i, entry in enumerate(raw_stages):
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(
                f"{source}: stages[{i}] must be a mapping with one stage name, "
                f"e.g. '- inspect: {{}}'"
            )
        ((name, body),) = entry.items()
        cls = stage_class(name)
        if cls is None:
            raise ConfigError(
                f"{source}: stages[{i}]: unknown stage {name!r}; "
                f"allowed: {', '.join(stage_names())}"
            )
        try:
            stages.append(cls.Config.model_validate(body or {}))
        except ValidationError as exc:
            raise explain(f"{source}: stages[{i}].{name}.", exc) from None
        kinds.append(cls.kind)
        writes.append(cls.writes_output)
    try:
        cfg = PipelineConfig.model_validate(
            {"output": data.get("output"), "run": data.get("run") or {}, "stages": stages}
        )
    except ValidationError as exc:
        raise explain(f"{source}: ", exc) from None
    if kinds[0] != "source" or "source" in kinds[1:]:
        raise ConfigError(f"{source}: the first stage, and only the first, must be 'read'")
    if not any(writes):
        raise ConfigError(f"{source}: add a 'write' stage: a pipeline must write its output")
    return cfg


def _map_paths(config: PipelineConfig, fn, output: str) -> PipelineConfig:
    """The config with `output` and every output path of its stages mapped by
    fn(path, where) (`where` names the key, for messages)."""
    stages = []
    for i, sc in enumerate(config.stages):
        updates = {}
        for key in type(sc).path_fields:
            value = getattr(sc, key)
            if value is None:
                continue
            where = f"stages[{i}].{type(sc).stage_name}.{key}"
            mapped = [fn(p, where) for p in ([value] if isinstance(value, str) else value)]
            updates[key] = mapped[0] if isinstance(value, str) else mapped
        stages.append(sc.model_copy(update=updates) if updates else sc)
    return config.model_copy(update={"output": output, "stages": stages})


def relocate(config: PipelineConfig, output: str) -> PipelineConfig:
    """The config with another output directory: output paths the config places under its
    own output (reports, `files`) move with it; one outside it is refused, since seqray
    cannot tell where the user wants it now."""
    from .outputs import normalize, within

    old = normalize(config.output)

    def move(p: str, where: str) -> str:
        n = normalize(p)
        if not within(n, old):
            raise ConfigError(
                f"{where}: {p} is outside the config's output ({config.output}), so it cannot "
                "move with --output: place it under the output in the config, or run "
                "without --output"
            )
        return join(output, n[len(old) :].lstrip("/\\"))

    return _map_paths(config, move, output)


def absolute_paths(config: PipelineConfig) -> PipelineConfig:
    """The config with absolute local paths for its output and output files: a run's
    manifest and journal record them, and must mean the same from any directory."""
    from .outputs import absolute

    return _map_paths(config, lambda p, _: absolute(p), absolute(config.output))


def load_config(path: str) -> PipelineConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML text file ({exc.reason})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(data, source=path)
