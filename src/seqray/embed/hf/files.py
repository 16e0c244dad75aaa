"""A Hugging Face model directory checked without torch: the driver refuses a missing or
incomplete model before a run writes anything, and learns the vector size for the output
schema. Nothing is ever downloaded, so every file must already be there."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ...errors import InputError

WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# any one of them lets AutoTokenizer build the model's tokenizer
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
)


@dataclass(frozen=True)
class ModelDir:
    """A checked model directory: its config.json and the vector size it gives."""

    path: str
    config: dict[str, Any] = field(repr=False)

    @property
    def dim(self) -> int:
        return int(self.config.get("hidden_size") or self.config["d_model"])

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))


def check_model_dir(path: str) -> ModelDir:
    """The model directory at `path`, or an InputError naming the directory and what it
    lacks (config.json, weights, tokenizer files)."""
    if not os.path.isdir(path):
        raise InputError(
            f"{path}: no such model directory (backend hf reads a local "
            "Hugging Face model directory, as save_pretrained writes it)"
        )
    names = set(os.listdir(path))
    config_path = os.path.join(path, "config.json")
    if "config.json" not in names:
        raise InputError(f"{path}: not a Hugging Face model directory: config.json is missing")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        raise InputError(f"{config_path}: not a readable JSON file ({exc})") from None
    if not isinstance(config, dict):
        raise InputError(f"{config_path}: not a model config (a JSON object)")
    if not (config.get("hidden_size") or config.get("d_model")):
        raise InputError(f"{config_path}: no hidden_size: not an encoder model seqray can run")
    if not names & set(WEIGHTS):
        raise InputError(
            f"{path}: the model weights are missing (one of {', '.join(WEIGHTS)}); "
            "nothing is downloaded"
        )
    if not names & set(TOKENIZER_FILES):
        raise InputError(
            f"{path}: the tokenizer is missing (one of {', '.join(TOKENIZER_FILES)}); "
            "save the model's tokenizer into the directory (tokenizer.save_pretrained)"
        )
    return ModelDir(path, config)
