"""Pipelines: a YAML config of registered stages, run by a local or a Ray runner."""

from typing import Any

__all__ = ["RunResult", "run_pipeline"]


def __getattr__(name: str) -> Any:
    # lazily: stage modules import this package's registry, the driver imports them all
    if name in __all__:
        from . import driver

        return getattr(driver, name)
    raise AttributeError(name)
