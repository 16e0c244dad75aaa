"""Tokenizer schemes by name: where the `tokenize` stage config, the CLI and the export
loader find them, so none of them lists scheme names.

A scheme is a `Tokenizer` subclass (seqray.tokenize.base) decorated with `@register`,
which files it under its `scheme` name. Everything about it lives on the class: its
config keys (`options`, `train_options`), their checks (`check_option`, the constructor),
whether it learns from the reads (`trains`, `train`) and its Hugging Face export
(`hf_tokenizer`, `export_settings`, `from_export`). The package (`seqray/tokenize/
__init__.py`) imports every scheme module, so the registry is complete once any part of
`seqray.tokenize` is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError

if TYPE_CHECKING:  # the registry holds classes; it needs none of base's code to run
    from .base import Tokenizer

T = TypeVar("T", bound="Tokenizer")

_SCHEMES: dict[str, type[Tokenizer]] = {}


def register(cls: type[T]) -> type[T]:
    """Class decorator: makes a scheme available by its `scheme` name."""
    name = cls.scheme
    if _SCHEMES.get(name, cls) is not cls:
        raise ValueError(f"tokenizer scheme {name!r} registered twice")
    _SCHEMES[name] = cls
    return cls


def scheme_names() -> tuple[str, ...]:
    """The registered scheme names, sorted."""
    return tuple(sorted(_SCHEMES))


def scheme_class(name: str) -> type[Tokenizer]:
    try:
        return _SCHEMES[name]
    except KeyError:
        raise ConfigError(
            f"tokenize: unknown scheme {name!r}; one of {', '.join(scheme_names())}"
        ) from None


def make_tokenizer(scheme: str, **options: Any) -> Tokenizer:
    """A tokenizer by scheme name with its options and the row options (see
    `Tokenizer`); e.g. `make_tokenizer("kmer", k=6, max_length=512)`. A scheme that trains
    (`bpe`) takes its model as `tokenizer` (a trained tokenizers.Tokenizer or its JSON) or
    `path` (a directory or tokenizer.json that seqray or Hugging Face saved)."""
    return scheme_class(scheme)(**options)
