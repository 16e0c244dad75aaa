"""torch and transformers, imported only here and only when an hf model is loaded (the CLI
and the driver stay fast to start), and the model and tokenizer loaded offline."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from ...errors import ConfigError, InputError
from .files import ModelDir

PRECISIONS = ("auto", "float32", "float16", "bfloat16")


def import_torch() -> ModuleType:
    """torch, or a ConfigError saying how to install the hf extra."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"backend hf needs torch and transformers ({exc}): pip install 'seqray[hf]'"
        ) from None
    return torch


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Loading a base model from a checkpoint with a head (BertForMaskedLM) lists the
    unused head weights, and loading draws progress bars: neither is news to the user."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def resolve_device(device: str) -> Any:
    """The torch.device for `device` ("auto": the first GPU torch sees, else the CPU)."""
    torch = import_torch()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"device {device!r}: not a torch device (auto, cpu, cuda, cuda:1…)"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device}: torch sees no CUDA GPU on this machine")
    return dev


def resolve_precision(precision: str, device: Any) -> str:
    """The compute precision: "auto" is bfloat16 on a CUDA GPU (float16 where the GPU has
    no bfloat16) and float32 elsewhere; an explicit one is kept."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "float32"
    torch = import_torch()
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def autocast(precision: str, device: Any) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass (weights stay float32); none for float32."""
    if precision == "float32":
        return contextlib.nullcontext()
    torch = import_torch()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, precision))


def load(model_dir: ModelDir, device: Any) -> tuple[Any, Any]:
    """(model, tokenizer) from the directory, on `device`, in eval mode; never downloads
    (local files only, and HF_HUB_OFFLINE unless the user set it)."""
    import_torch()
    from transformers import AutoModel, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = model_dir.path
    with _quiet_transformers():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except Exception as exc:  # whatever transformers raises: the directory's fault
            raise InputError(
                f"{path}: the tokenizer could not be loaded: {type(exc).__name__}: {exc}"
            ) from None
        try:
            model = AutoModel.from_pretrained(path, local_files_only=True)
        except Exception as exc:  # a truncated safetensors file raises SafetensorError
            raise InputError(
                f"{path}: the model could not be loaded: {type(exc).__name__}: {exc}"
            ) from None
    hidden = getattr(model.config, "hidden_size", None)
    if hidden != model_dir.dim:
        raise InputError(f"{path}: the model's hidden size {hidden} is not config.json's")
    model.to(device)
    model.eval()
    return model, tokenizer
