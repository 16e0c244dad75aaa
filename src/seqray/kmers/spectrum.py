"""k-mer spectrum analysis: error valley, solid threshold, coverage and genome size.

In a histogram of k-mer counts, k-mers that hold a sequencing error pile up at count 1, 2,
…; k-mers of the genome form a peak around the k-mer coverage. The *valley* between them is
the first local minimum after count 1; k-mers counted at least that often are *solid*. The
peak is the highest point of the histogram beyond the valley (of a moving average about a
tenth of the peak's count wide, so sampling noise does not pick it). The simple genome-size
estimate divides the k-mers in the solid region by the peak's count.
"""

from __future__ import annotations

import numpy as np

HISTO_HIGH = 10000  # jellyfish histo's default last bin; higher counts share bin HIGH + 1


def dense(histogram: dict[int, int], high: int | None = None) -> np.ndarray:
    """h[c] = k-mers with count c, c = 0..max (or 0..high with higher counts in high+1)."""
    top = max(histogram, default=0)
    if high is not None and top > high:
        h = np.zeros(high + 2, np.int64)
        for c, n in histogram.items():
            h[min(c, high + 1)] += n
        return h
    h = np.zeros(top + 1, np.int64)
    for c, n in histogram.items():
        h[c] = n
    return h


def histo_text(histogram: dict[int, int], high: int = HISTO_HIGH) -> str:
    """`jellyfish histo` format: "count number" for each non-empty bin, counts above `high`
    tallied in bin high + 1."""
    h = dense(histogram, high)
    return "".join(f"{c} {int(h[c])}\n" for c in np.flatnonzero(h) if c > 0)


def analyse(histogram: dict[int, int]) -> dict:
    """valley, solid_threshold, peak (= k-mer coverage), genome_size; None where the
    spectrum has no valley (e.g. too little coverage, or error-free data)."""
    h = dense(histogram)
    out: dict = {
        "valley": None,
        "solid_threshold": None,
        "peak": None,
        "kmer_coverage": None,
        "genome_size": None,
        "solid_distinct": None,
        "error_distinct": None,
    }
    if len(h) < 3:
        return out
    # first count c >= 2 where the histogram stops falling and the next bin rises, over
    # the non-empty bins (reads given twice have only even counts: the empty bins between
    # are no valley)
    nz = np.flatnonzero(h[1:]) + 1
    seq = h[nz]
    rises = np.flatnonzero((seq[1:-1] <= seq[:-2]) & (seq[2:] > seq[1:-1])) + 1
    if not len(rises):
        return out
    valley = int(nz[rises[0]])
    peak = valley + int(np.argmax(h[valley:]))
    if peak == valley:
        return out
    # the raw maximum of a noisy peak is biased; take the maximum of a moving average
    # whose width grows with the coverage (one bin at low coverage)
    half = peak // 16
    if half:
        region = h[valley:].astype(np.float64)
        smooth = np.convolve(region, np.ones(2 * half + 1) / (2 * half + 1), mode="same")
        peak = valley + int(np.argmax(smooth))
    counts = np.arange(len(h))
    solid_total = int((counts[valley:] * h[valley:]).sum())
    out.update(
        valley=valley,
        solid_threshold=valley,
        peak=peak,
        kmer_coverage=peak,
        genome_size=int(round(solid_total / peak)),
        solid_distinct=int(h[valley:].sum()),
        error_distinct=int(h[1:valley].sum()),
    )
    return out
