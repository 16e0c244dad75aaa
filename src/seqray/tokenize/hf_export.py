"""Hugging Face export: a directory `transformers.AutoTokenizer.from_pretrained(dir)` loads
(offline) as a `PreTrainedTokenizerFast` giving the same ids as seqray, specials included.

What the exported tokenizer takes, per scheme (as the models' users feed them):
- kmer, hashed: space-separated k-mers, as DNABERT's users do ("ATGCAT TGCATG ..."; see
  `Tokenizer.hf_text`); hashed is exported only where its k-mers can be listed (4^k ≤ 2^20);
- nt6, char, bpe: the raw sequence (nt6 and char through a regex pre-tokenizer);
- protein: residues separated by spaces, as ProtBERT's users do ("M K T ...").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

import numpy as np

from ..errors import ConfigError
from ..io.fs import filesystem_for, join
from ..io.writers import WrittenFile, write_file
from .vocab import DNABERT_ORDER, kmers

if TYPE_CHECKING:
    from .bpe import BPETokenizer
    from .schemes import ProteinTokenizer, Tokenizer

MAX_HASHED_KMERS = 2**20


def _hashed_vocab(tok) -> dict[str, int]:
    if 4**tok.k > MAX_HASHED_KMERS:
        raise ConfigError(
            f"hashed k = {tok.k}: 4^k k-mers are too many to list in a Hugging Face "
            f"vocabulary (at most k = 10); Hugging Face tokenizers cannot compute the hash"
        )
    words = kmers(tok.k, DNABERT_ORDER)
    enc = tok.tokenize(
        np.frombuffer("".join(words).encode(), np.uint8),
        np.arange(len(words) + 1, dtype=np.int64) * tok.k,
    )
    return dict(zip(words, enc.ids.tolist()))


def build_hf_json(tok: Tokenizer) -> str:
    """tokenizer.json text for `tok` (the `tokenizers` serialisation)."""
    from tokenizers import Regex, normalizers, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import WordLevel

    v = tok.vocab
    if tok.scheme == "bpe":
        hf = HFTokenizer.from_str(cast("BPETokenizer", tok).hf.to_str())
    else:
        hf = HFTokenizer(WordLevel({t: i for i, t in enumerate(v.tokens)}, unk_token=v.unk))
        if tok.scheme in ("kmer", "hashed", "protein"):
            hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        elif tok.scheme == "nt6":
            hf.pre_tokenizer = pre_tokenizers.Split(Regex("[ACGT]{6}|."), behavior="isolated")
        else:
            hf.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        if tok.scheme == "protein" and cast("ProteinTokenizer", tok).alphabet != "full":
            groups = cast("ProteinTokenizer", tok).groups
            hf.normalizer = normalizers.Sequence(
                [normalizers.Replace(a, b) for a, b in sorted(groups.items()) if a != b]
            )
    hf.add_special_tokens(list(v.specials))
    cls, sep = tok.cls_id, tok.sep_id
    if cls >= 0 or sep >= 0:
        single = ([f"{v.cls}"] if cls >= 0 else []) + ["$A"] + ([f"{v.sep}"] if sep >= 0 else [])
        pair = single + ["$B:1"] + ([f"{v.sep}:1"] if sep >= 0 else [])
        specials = [
            (t, v.id(t)) for t in (v.cls if cls >= 0 else None, v.sep if sep >= 0 else None) if t
        ]
        hf.post_processor = processors.TemplateProcessing(
            single=" ".join(single), pair=" ".join(pair), special_tokens=specials
        )
    data = json.loads(hf.to_str())
    if tok.scheme == "hashed":
        # several k-mers share an id (reverse complements, buckets): the tokenizers
        # serialiser keeps one k-mer per id, so the word → id map is written here
        data["model"]["vocab"] = {**{t: v.id(t) for t in v.tokens}, **_hashed_vocab(tok)}
    return json.dumps(data, ensure_ascii=False)


def export_files(tok: Tokenizer) -> dict[str, bytes]:
    """File name → content of the export directory."""
    v = tok.vocab
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
        "model_max_length": tok.max_length if tok.max_length is not None else 1_000_000_000,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **roles,
    }
    if v.extra_specials:
        config["additional_special_tokens"] = list(v.extra_specials)
    seqray = {"scheme": tok.scheme, **tok.settings(), "add_special_tokens": tok.add_special_tokens}
    if tok.scheme == "bpe":
        seqray.pop("vocab_size")

    def dump(obj) -> bytes:
        return (json.dumps(obj, indent=2) + "\n").encode()

    return {
        "tokenizer.json": build_hf_json(tok).encode(),
        "tokenizer_config.json": dump(config),
        "special_tokens_map.json": dump(roles),
        "seqray_tokenizer.json": dump(seqray),
    }


def export_tokenizer(tok: Tokenizer, directory: str) -> list[WrittenFile]:
    """Writes the export directory (local or s3://), each file atomically; returns them."""
    return [write_file(join(directory, name), data) for name, data in export_files(tok).items()]


def load_tokenizer(directory: str, **rows) -> Tokenizer:
    """The seqray tokenizer a directory exported by seqray describes (row options apart)."""
    from .bpe import read_tokenizer_json
    from .schemes import make_tokenizer

    fs, p = filesystem_for(join(directory, "seqray_tokenizer.json"))
    try:
        with fs.open_input_stream(p) as f:
            opts = json.loads(f.read())
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"{directory}: not a seqray tokenizer export ({exc})") from exc
    scheme = opts.pop("scheme")
    opts.update(rows)
    if scheme == "bpe":
        opts["tokenizer"] = read_tokenizer_json(directory)
    return make_tokenizer(scheme, **opts)
