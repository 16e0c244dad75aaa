"""Small simulated references and reads with known origin, for classifier tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_COMP = str.maketrans("ACGT", "TGCA")


def genomes(n: int, length: int, seed: int) -> list[str]:
    """`n` random genomes (independent: no shared k-mers beyond chance)."""
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def write_fasta(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{name} a reference\n{seq}\n" for name, seq in records))
    return path


def reads(
    refs: list[str], n: int, seed: int, length: int = 100, error: float = 0.01
) -> tuple[list[str], np.ndarray]:
    """(sequences, true genome index): fragments at uniform genomes, positions and strands,
    with substitutions at rate `error`."""
    rng = np.random.default_rng(seed)
    seqs, truth = [], rng.integers(0, len(refs), n)
    for g in truth:
        ref = refs[int(g)]
        a = int(rng.integers(0, len(ref) - length))
        s = np.array(list(ref[a : a + length]))
        hit = rng.random(length) < error
        s[hit] = rng.choice(list("ACGT"), int(hit.sum()))
        seq = "".join(s)
        seqs.append(seq.translate(_COMP)[::-1] if rng.random() < 0.5 else seq)
    return seqs, truth


def write_fastq(path: Path, seqs: list[str], prefix: str = "r") -> list[str]:
    names = [f"{prefix}{i}" for i in range(len(seqs))]
    path.write_text("".join(f"@{n}\n{s}\n+\n{'I' * len(s)}\n" for n, s in zip(names, seqs)))
    return names
