"""Spectrum analysis: by hand, and on reads simulated by art_illumina at a known coverage
(k-mer coverage checked against the simulation's own truth)."""

from __future__ import annotations

import numpy as np
import pytest

from seqray.kmers.spectrum import analyse, dense, histo_text

from ..conftest import EXAMPLES
from .countdata import correct_bench, seqray_count

PHIX_LENGTH = 5386


def test_by_hand():
    # errors at 1..3, valley at 4, genome k-mers peak at 20
    hist = {1: 900, 2: 120, 3: 30, 4: 8, 5: 10, 10: 40, 19: 90, 20: 100, 21: 95, 40: 3}
    r = analyse(hist)
    assert (r["valley"], r["solid_threshold"], r["peak"], r["kmer_coverage"]) == (4, 4, 20, 20)
    solid = sum(c * n for c, n in hist.items() if c >= 4)
    assert r["genome_size"] == round(solid / 20)
    assert r["solid_distinct"] == sum(n for c, n in hist.items() if c >= 4)
    assert r["error_distinct"] == 900 + 120 + 30


def test_no_valley():
    assert analyse({1: 50, 2: 10, 3: 1})["valley"] is None
    assert analyse({})["genome_size"] is None
    # a single bin: nothing to separate
    assert analyse({5: 10})["valley"] is None


def test_reads_given_twice():
    """Every count doubled leaves empty odd bins; they are no valley, and the genome size
    stays (the k-mer coverage doubles)."""
    hist = {1: 900, 2: 120, 3: 30, 4: 8, 5: 10, 10: 40, 19: 90, 20: 100, 21: 95, 40: 3}
    once = analyse(hist)
    twice = analyse({2 * c: n for c, n in hist.items()})
    assert (twice["valley"], twice["peak"]) == (2 * once["valley"], 2 * once["peak"])
    assert twice["genome_size"] == once["genome_size"]


def test_histo_catch_all_bin():
    # jellyfish histo: counts above high are tallied in bin high + 1; empty bins skipped
    assert histo_text({1: 3, 4: 1, 12: 2, 50: 1}, high=10) == "1 3\n4 1\n11 3\n"
    assert dense({2: 1}).tolist() == [0, 0, 1]


def error_free_kmer_fraction(names, reads, truth, k: int) -> float:
    """Of all k-mer windows of the reads, the share without a sequencing error, from ART's
    error-free copy of each read (a read whose length differs, an indel read, counts as all
    windows erroneous: few of its k-mers are the genome's)."""
    ok = total = 0
    for name, read in zip(names, reads):
        windows = max(len(read) - k + 1, 0)
        total += windows
        true = truth[name]
        if len(true) != len(read) or not windows:
            continue
        wrong = np.frombuffer(read, np.uint8) != np.frombuffer(true, np.uint8)
        in_window = np.convolve(wrong, np.ones(k, np.int64), mode="valid")
        ok += int((in_window == 0).sum())
    return ok / total


@pytest.mark.integration
@pytest.mark.peers("art_illumina")
@pytest.mark.parametrize("k", [21, 31])
def test_genome_size_of_simulated_phix(tmp_path, k):
    bench = correct_bench()
    L = 150
    reads = bench.simulate(EXAMPLES / "phix174.fa", 100, 42, tmp_path / "sim")
    truth, _ = bench.read_truth(tmp_path / "sim")
    names, seqs = bench.read_fastq(reads)
    s = seqray_count([reads], tmp_path / "out", k, "-C")
    sp = s["spectrum"]
    assert sp["valley"] is not None and sp["valley"] >= 2
    assert abs(sp["genome_size"] - PHIX_LENGTH) / PHIX_LENGTH < 0.05

    # The truth from the simulation: base coverage C = N·L/G; a genome k-mer is covered
    # by the L − k + 1 windows of each read over it, so k-mer coverage = C·(L − k + 1)/L,
    # counting only windows without a sequencing error (share f, from ART's truth) and
    # spread over the G − k + 1 k-mers of the genome: N·(L − k + 1)·f / (G − k + 1).
    # Here C ≈ 97.5, f ≈ 0.96 (k = 21) and 0.94 (k = 31): about 81.5 and 73.9.
    n = len(seqs)
    assert {len(x) for x in seqs} == {L}
    base_coverage = n * L / PHIX_LENGTH
    f = error_free_kmer_fraction(names, seqs, truth, k)
    expected = n * (L - k + 1) * f / (PHIX_LENGTH - k + 1)
    # the peak of a histogram of ~5,300 genome k-mers, smoothed over a tenth of its
    # height: within 3 of the mean count (4 %), a sampling margin far below the gap that
    # separates it from the classic mistake of reporting base coverage (≥ 15 here)
    tolerance = 3
    assert abs(sp["kmer_coverage"] - expected) <= tolerance, (sp["kmer_coverage"], expected)
    assert abs(base_coverage - expected) > 5 * tolerance
