"""The tiny models, built once per test session (seeded: the same weights every time)."""

from __future__ import annotations

import pytest

from . import models


@pytest.fixture(scope="session")
def hf_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-models")
    return {
        "dnabert": models.dnabert(root / "dnabert"),
        "esm": models.esm(root / "esm"),
        "protbert": models.protbert(root / "protbert"),
        "nt": models.nucleotide_transformer(root / "nt"),
    }
