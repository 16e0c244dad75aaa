"""Vocabulary layouts of the published DNA and protein models each scheme follows.

A `Vocab` is the token list (id = position) plus the special-token roles; the layouts are
the models' own, so ids are interchangeable with theirs:

- `kmer` (DNABERT): `[PAD] [UNK] [CLS] [SEP] [MASK]`, then every k-mer in
  `itertools.product("ATCG", repeat=k)` order (k = 6: 4101 tokens).
- `nt6` (Nucleotide Transformer): `<unk> <pad> <mask> <cls>`, the 4096 6-mers in the same
  order, `A T C G N`, then `<eos> <bos>` (4107 tokens).
- `char` (HyenaDNA): `[CLS] [SEP] [BOS] [MASK] [PAD] [RESERVED] [UNK]`, then `A C G T N`.
- `protein` (ProtBERT): DNABERT's five specials, then `L A G V E S I K R D T P N Q F Y M H
  C W X U B Z O`; reduced alphabets (Murphy et al. 2000) keep one letter per group.
- `hashed`: DNABERT's five specials, then 4^k canonical k-mer codes or `buckets` hash buckets
  (not enumerated).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

DNABERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
NT_SPECIALS = ("<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>")
HYENA_SPECIALS = ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]")
DNABERT_ORDER = "ATCG"  # DNABERT's and NT's k-mer enumeration order
HYENA_CHARS = "ACGTN"
PROTBERT_RESIDUES = "LAGVESIKRDTPNQFYMHCWXUBZO"

# Murphy, Wallqvist & Levy (2000) reduced amino-acid alphabets; the first letter of a group
# stands for the group. U (selenocysteine) joins C, O (pyrrolysine) joins K; B (D/N) and
# Z (E/Q) join a group only where both their residues are in it, otherwise they become X.
MURPHY = {
    "murphy10": ("LVIM", "C", "A", "G", "ST", "P", "FYW", "EDNQ", "KR", "H"),
    "murphy15": ("LVIM", "C", "A", "G", "S", "T", "P", "FY", "W", "E", "D", "N", "Q", "KR", "H"),
}
PROTEIN_ALPHABETS = ("full", "murphy10", "murphy15")


@dataclass(frozen=True)
class Vocab:
    tokens: tuple[str, ...]
    pad: str
    unk: str
    cls: str | None
    sep: str | None
    mask: str
    extra_specials: tuple[str, ...] = ()
    index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.index.update({t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str | None) -> int:
        return -1 if token is None else self.index[token]

    @property
    def specials(self) -> tuple[str, ...]:
        named = (self.pad, self.unk, self.cls, self.sep, self.mask)
        return tuple(t for t in self.tokens if t in named or t in self.extra_specials)


def kmers(k: int, order: str = DNABERT_ORDER) -> list[str]:
    return ["".join(p) for p in itertools.product(order, repeat=k)]


def dnabert_vocab(k: int) -> Vocab:
    return Vocab(
        tuple(DNABERT_SPECIALS) + tuple(kmers(k)), "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
    )


def specials_vocab() -> Vocab:
    """DNABERT's five special tokens alone (the hashed scheme computes the rest)."""
    return Vocab(DNABERT_SPECIALS, "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def nt_vocab() -> Vocab:
    # InstaDeep's layout: four specials, the standard tokens, then <eos> and <bos> last
    return Vocab(
        NT_SPECIALS[:4] + tuple(kmers(6)) + tuple("ATCGN") + NT_SPECIALS[4:],
        "<pad>",
        "<unk>",
        "<cls>",
        None,
        "<mask>",
        extra_specials=("<eos>", "<bos>"),
    )


def hyena_vocab() -> Vocab:
    return Vocab(
        HYENA_SPECIALS + tuple(HYENA_CHARS),
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        extra_specials=("[BOS]", "[RESERVED]"),
    )


def protein_groups(alphabet: str) -> dict[str, str]:
    """Residue letter → the token it becomes under `alphabet` (identity for "full")."""
    if alphabet == "full":
        return {c: c for c in PROTBERT_RESIDUES}
    groups = MURPHY[alphabet]
    rep = {c: g[0] for g in groups for c in g}
    rep["U"], rep["O"], rep["X"] = rep["C"], rep["K"], "X"
    for amb, (a, b) in (("B", "DN"), ("Z", "EQ")):
        rep[amb] = rep[a] if rep[a] == rep[b] else "X"
    return rep


def protein_vocab(alphabet: str = "full") -> Vocab:
    if alphabet == "full":
        letters = tuple(PROTBERT_RESIDUES)
    else:
        letters = tuple(g[0] for g in MURPHY[alphabet]) + ("X",)
    return Vocab(DNABERT_SPECIALS + letters, "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def byte_table(vocab: Vocab, mapping: dict[str, str], default: int) -> np.ndarray:
    """int32[256]: byte → token id for one-byte tokens (`mapping` letter → token)."""
    t = np.full(256, default, dtype=np.int32)
    for letter, token in mapping.items():
        t[ord(letter)] = vocab.id(token)
    return t


def digit_table(order: str) -> np.ndarray:
    """uint8[256]: base → its digit in `order` (A,T,C,G → 0..3 for DNABERT), 4 otherwise."""
    t = np.full(256, 4, dtype=np.uint8)
    for i, c in enumerate(order):
        t[ord(c)] = i
    return t
