"""The stage registry: a stage is a named, typed step with its own pydantic config.

Three kinds: a *source* plans chunks and reads them; a *map* stage turns each read batch
into another (and may accumulate mergeable statistics); a *sink* writes batches into shards
and joins them at the end. Later stages register here without touching the runners.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[str, type[Stage]] = {}


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stage:
    name: ClassVar[str]
    kind: ClassVar[str]  # "source" | "map" | "sink"
    Config: ClassVar[type[StageConfig]] = StageConfig

    def __init__(self, config: StageConfig):
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class MapStage(Stage):
    kind = "map"

    def new_accumulator(self) -> Any:
        """A mergeable per-chunk accumulator (with `+=`, to_json/from_json), or None."""
        return None

    def transform(self, table: pa.Table, acc: Any, chunk: Any) -> pa.Table:
        raise NotImplementedError

    def accumulator_from_json(self, data: Any) -> Any:
        return None

    def finish(self, acc: Any, output: str) -> dict:
        """Called once in the driver with the merged accumulator; returns report entries."""
        return {}


def register(cls: type[Stage]) -> type[Stage]:
    if cls.name in _REGISTRY:
        raise ValueError(f"stage {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    cls.Config.stage_name = cls.name
    return cls


def stage_class(name: str) -> type[Stage] | None:
    return _REGISTRY.get(name)


def stage_names() -> list[str]:
    return sorted(_REGISTRY)
