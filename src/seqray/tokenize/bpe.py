"""BPE (DNABERT-2 style): a Hugging Face `tokenizers` BPE model trained on reads.

Training and encoding run in the `tokenizers` Rust library (multi-threaded); seqray hands it
whole batches and turns the ids into flat arrays. Each read is one word (no pre-tokenizer),
so merges may span any bases, as in DNABERT-2. Specials follow DNABERT-2's layout:
`[UNK] [CLS] [SEP] [PAD] [MASK]` = ids 0..4. The model is its own Hugging Face export
(raw sequences in).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..errors import ConfigError
from ..io.fs import filesystem_for, join
from .base import Encoded, Tokenizer
from .registry import register
from .vocab import Vocab

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

BPE_SPECIALS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")
DEFAULT_ALPHABET = "ACGTN"


def train_bpe(seqs: Iterable[str], vocab_size: int = 4096, alphabet: str = DEFAULT_ALPHABET):
    """A `tokenizers.Tokenizer` (BPE, DNABERT-2 specials) trained on `seqs`; deterministic
    for the same sequences in the same order."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, trainers

    if vocab_size < len(BPE_SPECIALS) + len(alphabet):
        raise ConfigError(
            f"tokenize: bpe vocab_size must be at least {len(BPE_SPECIALS) + len(alphabet)}"
        )
    tok = HFTokenizer(models.BPE(unk_token="[UNK]"))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(BPE_SPECIALS),
        initial_alphabet=list(alphabet),
        show_progress=False,
    )
    tok.train_from_iterator(seqs, trainer)
    return tok


@register
class BPETokenizer(Tokenizer):
    """Applies a trained BPE model: `tokenizer` is a tokenizers.Tokenizer or its JSON, or
    else `path` a directory (or tokenizer.json) that seqray or Hugging Face saved."""

    scheme = "bpe"
    trains = True
    train_options = ("vocab_size",)

    def __init__(self, tokenizer: Any = None, path: str | None = None, **rows: Any):
        from tokenizers import Tokenizer as HFTokenizer

        if tokenizer is None:
            if path is None:
                raise ConfigError("tokenize: bpe needs a trained tokenizer (train one first)")
            tokenizer = read_tokenizer_json(path)
        if isinstance(tokenizer, str):
            tokenizer = HFTokenizer.from_str(tokenizer)
        self.hf = tokenizer
        self.hf.no_padding()
        self.hf.no_truncation()
        vocab = self.hf.get_vocab(with_added_tokens=True)
        tokens = [""] * (max(vocab.values()) + 1)
        for t, i in vocab.items():
            tokens[i] = t
        missing = [t for t in BPE_SPECIALS if t not in vocab]
        if missing:
            raise ConfigError(f"tokenize: the BPE tokenizer lacks special tokens {missing}")
        self.vocab = Vocab(tuple(tokens), "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
        # bases a token covers (specials none, [UNK] one unknown byte): token starts in reads
        self._length = np.array([len(t) for t in tokens], dtype=np.int64)
        for t in BPE_SPECIALS:
            self._length[vocab[t]] = 0
        self._length[vocab["[UNK]"]] = 1
        super().__init__(**rows)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["hf"] = self.hf.to_str()
        return state

    def __setstate__(self, state: dict) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        state["hf"] = HFTokenizer.from_str(state["hf"])
        self.__dict__.update(state)

    def settings(self) -> dict:
        return {"vocab_size": len(self.vocab)}

    def tokenize(self, values: np.ndarray, offsets: np.ndarray) -> Encoded:
        n = len(offsets) - 1
        col = pa.Array.from_buffers(
            pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(values)]
        )
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)
        encs = encode(col.to_pylist(), add_special_tokens=False)
        lens = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=n)
        toff = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=toff[1:])
        ids = np.fromiter((i for e in encs for i in e.ids), dtype=np.int32, count=int(toff[-1]))
        # a token starts where the tokens before it in its read end
        ends = np.cumsum(self._length[ids])
        starts = ends - self._length[ids]
        if len(ids):
            starts -= np.repeat(np.concatenate([[0], ends])[toff[:-1]], lens)
        return Encoded(ids, toff, starts)

    @classmethod
    def train(cls, seqs: list[str], vocab_size: int = 4096, **options: Any) -> str:
        return str(train_bpe(seqs, vocab_size).to_str())

    def hf_tokenizer(self) -> HFTokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        return HFTokenizer.from_str(self.hf.to_str())

    def export_settings(self) -> dict:
        settings = super().export_settings()
        settings.pop("vocab_size")  # the model's own
        return settings

    @classmethod
    def from_export(cls, directory: str, **options: Any) -> Tokenizer:
        return cls(path=directory, **options)


def read_tokenizer_json(path: str) -> str:
    fs, p = filesystem_for(path)
    import pyarrow.fs as pafs

    if fs.get_file_info(p).type == pafs.FileType.Directory:
        fs, p = filesystem_for(join(path, "tokenizer.json"))
    try:
        with fs.open_input_stream(p) as f:
            text = f.read().decode()
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read a tokenizer.json ({exc})") from exc
    try:
        json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a tokenizer JSON file ({exc})") from exc
    return text
