"""Spectrum analysis: by hand, and on reads simulated by art_illumina at a known coverage."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from seqray.kmers.spectrum import analyse, dense, histo_text

from ..conftest import EXAMPLES
from .countdata import seqray_count

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


@pytest.mark.skipif(shutil.which("art_illumina") is None, reason="art_illumina is not installed")
@pytest.mark.parametrize("k", [21, 31])
def test_genome_size_of_simulated_phix(tmp_path, k):
    subprocess.run(
        [
            "art_illumina",
            "-ss",
            "HS25",
            "-i",
            str(EXAMPLES / "phix174.fa"),
            "-l",
            "150",
            "-f",
            "100",
            "-o",
            str(tmp_path / "sim"),
            "-rs",
            "42",
            "-na",
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    s = seqray_count([tmp_path / "sim.fq"], tmp_path / "out", k, "-C")
    sp = s["spectrum"]
    assert sp["valley"] is not None and sp["valley"] >= 2
    assert abs(sp["genome_size"] - PHIX_LENGTH) / PHIX_LENGTH < 0.05
    # k-mer coverage = base coverage × (L − k + 1) / L for reads of length L
    assert abs(sp["kmer_coverage"] - 100 * (150 - k + 1) / 150) <= 0.15 * 100
