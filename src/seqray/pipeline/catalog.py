"""The modules that register pipeline stages, imported before a config is parsed.

A new stage lives with its area (`seqray.qc`, `seqray.kmers`, ...) and is listed here once.
"""

from __future__ import annotations

import importlib

STAGE_MODULES: tuple[str, ...] = (
    "seqray.pipeline.stages",
    "seqray.qc.dedup",
    "seqray.qc.stage",
    "seqray.kmers.stages",
    "seqray.tokenize.stage",
    "seqray.kmers.correct_stage",
    "seqray.embed.train_stage",
    "seqray.embed.embed_stage",
    "seqray.classify.train_stage",
    "seqray.classify.classify_stage",
    "seqray.hpc.stage",
)


def load_stages() -> None:
    for module in STAGE_MODULES:
        importlib.import_module(module)
