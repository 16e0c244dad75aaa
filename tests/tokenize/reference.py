"""Plain-Python reference tokenizers, written from the models' published rules (independent
of seqray's kernels), for the tests to compare against."""

from __future__ import annotations

import itertools
import re

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def dnabert_vocab(k: int) -> list[str]:
    # DNABERT's vocab.txt: the five specials, then itertools.product("ATCG", repeat=k)
    return SPECIALS + ["".join(p) for p in itertools.product("ATCG", repeat=k)]


def kmer_ids(seq: str, k: int, stride: int = 1) -> list[int]:
    index = {t: i for i, t in enumerate(dnabert_vocab(k))}
    return [index.get(seq[i : i + k], 1) for i in range(0, len(seq) - k + 1, stride)]


def nt6_tokens(seq: str) -> list[str]:
    out = []
    for part in re.split("([^ACGT])", seq):
        if len(part) == 1 and part not in "ACGT":
            out.append(part)
            continue
        n6 = len(part) // 6 * 6
        out += [part[i : i + 6] for i in range(0, n6, 6)] + list(part[n6:])
    return out


def nt6_ids(seq: str) -> list[int]:
    # InstaDeep's nucleotide_transformer layout: <unk> <pad> <mask> <cls>, the 6-mers in
    # product("ATCG") order, A T C G N, then <eos> <bos>
    vocab = ["<unk>", "<pad>", "<mask>", "<cls>"]
    vocab += ["".join(p) for p in itertools.product("ATCG", repeat=6)] + list("ATCGN")
    vocab += ["<eos>", "<bos>"]
    index = {t: i for i, t in enumerate(vocab)}
    return [index.get(t, 0) for t in nt6_tokens(seq)]


def code(kmer: str) -> int:
    c = 0
    for b in kmer:
        c = c * 4 + "ACGT".index(b)
    return c


def revcomp(kmer: str) -> str:
    return kmer[::-1].translate(str.maketrans("ACGT", "TGCA"))


def splitmix_final(x: int) -> int:
    m = (1 << 64) - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def hashed_ids(seq, k, stride=1, canonical=True, buckets=None) -> list[int]:
    out = []
    for i in range(0, len(seq) - k + 1, stride):
        w = seq[i : i + k]
        if set(w) - set("ACGT"):
            out.append(1)
            continue
        c = min(code(w), code(revcomp(w))) if canonical else code(w)
        out.append(5 + (splitmix_final(c) % buckets if buckets else c))
    return out
