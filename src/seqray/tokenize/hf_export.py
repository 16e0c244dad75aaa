"""Hugging Face export: a directory `transformers.AutoTokenizer.from_pretrained(dir)` loads
(offline) as a `PreTrainedTokenizerFast` giving the same ids as seqray, specials included.

Each scheme builds its own `tokenizers` model, normaliser and pre-tokenizer for the input
its model's users give (`Tokenizer.hf_tokenizer`, `hf_text`); here are the parts every
export shares: the special tokens and the template that wraps a row in them, the
`tokenizer_config.json`, `special_tokens_map.json` and `seqray_tokenizer.json` files,
writing them, and reading an export back into a seqray tokenizer (`load_tokenizer`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..io.fs import filesystem_for, join
from ..io.writers import WrittenFile, write_file
from .registry import scheme_class
from .vocab import Vocab

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

    from .base import Tokenizer

SETTINGS = "seqray_tokenizer.json"


def word_level(vocab: Vocab, pre_tokenizer: Any) -> HFTokenizer:
    """A `tokenizers` word-level model over `vocab` (its unknown token for the rest)."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import WordLevel

    hf = HFTokenizer(WordLevel({t: i for i, t in enumerate(vocab.tokens)}, unk_token=vocab.unk))
    hf.pre_tokenizer = pre_tokenizer
    return hf


def finish(hf: HFTokenizer, vocab: Vocab, cls: int, sep: int) -> dict:
    """tokenizer.json's data: `hf` with `vocab`'s special tokens and, where a row starts
    with `cls` or ends with `sep` (ids; -1: none), the template that adds them."""
    from tokenizers import processors

    v = vocab
    hf.add_special_tokens(list(v.specials))
    if cls >= 0 or sep >= 0:
        single = ([f"{v.cls}"] if cls >= 0 else []) + ["$A"] + ([f"{v.sep}"] if sep >= 0 else [])
        pair = single + ["$B:1"] + ([f"{v.sep}:1"] if sep >= 0 else [])
        specials = [
            (t, v.id(t)) for t in (v.cls if cls >= 0 else None, v.sep if sep >= 0 else None) if t
        ]
        hf.post_processor = processors.TemplateProcessing(
            single=" ".join(single), pair=" ".join(pair), special_tokens=specials
        )
    data: dict = json.loads(hf.to_str())
    return data


def export_files(
    tokenizer_json: str, vocab: Vocab, max_length: int | None, settings: dict
) -> dict[str, bytes]:
    """File name → content of an export directory."""
    v = vocab
    roles = {
        "pad_token": v.pad,
        "unk_token": v.unk,
        "cls_token": v.cls,
        "sep_token": v.sep,
        "mask_token": v.mask,
    }
    roles = {k: t for k, t in roles.items() if t is not None}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length if max_length is not None else 1_000_000_000,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **roles,
    }
    if v.extra_specials:
        config["additional_special_tokens"] = list(v.extra_specials)

    def dump(obj) -> bytes:
        return (json.dumps(obj, indent=2) + "\n").encode()

    return {
        "tokenizer.json": tokenizer_json.encode(),
        "tokenizer_config.json": dump(config),
        "special_tokens_map.json": dump(roles),
        SETTINGS: dump(settings),
    }


def write_files(directory: str, files: dict[str, bytes]) -> list[WrittenFile]:
    """Writes the export directory (local or s3://), each file atomically; returns them."""
    return [write_file(join(directory, name), data) for name, data in files.items()]


def load_tokenizer(directory: str, **rows: Any) -> Tokenizer:
    """The seqray tokenizer a directory exported by seqray describes (row options apart)."""
    fs, p = filesystem_for(join(directory, SETTINGS))
    try:
        with fs.open_input_stream(p) as f:
            opts = json.loads(f.read())
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"{directory}: not a seqray tokenizer export ({exc})") from exc
    scheme = opts.pop("scheme")
    opts.update(rows)
    return scheme_class(scheme).from_export(directory, **opts)
