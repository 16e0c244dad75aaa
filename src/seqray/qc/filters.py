"""fastp's read filters (passFilter) and the reasons a read is dropped.

The reason codes are fastp's own (common.h), so that for a pair the worse mate's reason
is `max(reason1, reason2)` exactly as in fastp; DUPLICATED is seqray's (fastp counts a
duplicate under whatever filter result its copy gets).
"""

from __future__ import annotations

from numba import njit

PASSED = 0
DUPLICATED = 1
TOO_MANY_N = 12
TOO_SHORT = 16
TOO_LONG = 17
LOW_QUALITY = 20
LOW_COMPLEXITY = 24

# reason code -> name (fastp's filtering_result keys, plus duplicated)
REASONS: dict[int, str] = {
    PASSED: "passed_filter_reads",
    LOW_QUALITY: "low_quality_reads",
    TOO_MANY_N: "too_many_N_reads",
    TOO_SHORT: "too_short_reads",
    TOO_LONG: "too_long_reads",
    LOW_COMPLEXITY: "low_complexity_reads",
    DUPLICATED: "duplicated_reads",
}
N_CODES = 32
# what fastp's --failed_out appends to a failing read's name (FAILED_TYPES), by reason;
# PASSED: a mate that passed, written because the other failed
FAILED_TAGS: dict[int, str] = {
    PASSED: "paired_read_is_failing",
    TOO_MANY_N: "failed_too_many_n_bases",
    TOO_SHORT: "failed_too_short",
    TOO_LONG: "failed_too_long",
    LOW_QUALITY: "failed_quality_filter",
    LOW_COMPLEXITY: "failed_low_complexity",
}


@njit(cache=True, nogil=True)
def low_complexity(seq, b, n, threshold_pct):
    """True when fewer than `threshold_pct`% of adjacent base pairs differ."""
    if n <= 1:
        return True
    diff = 0
    for i in range(n - 1):
        if seq[b + i] != seq[b + i + 1]:
            diff += 1
    return not (diff / (n - 1) >= threshold_pct / 100.0)


@njit(cache=True, nogil=True)
def pass_filter(
    seq,
    qual,
    b,
    n,
    alive,
    qual_filter,
    qualified,
    unqualified_pct,
    avg_qual,
    n_limit,
    len_filter,
    len_required,
    len_limit,
    complexity,
    complexity_pct,
):
    """fastp's passFilter on the trimmed read: the first failing check is the reason.

    Order: unqualified-base percentage, mean quality (integer mean, as fastp), N count,
    too short, too long, low complexity. A read trimmed away or empty is too short even
    when length filtering is off."""
    if not alive or n == 0:
        return TOO_SHORT
    low = 0
    nn = 0
    total = 0
    if qual_filter or len_filter:
        for i in range(n):
            q = qual[b + i]
            total += q - 33
            if q < qualified:
                low += 1
            if seq[b + i] == 78:
                nn += 1
    if qual_filter:
        if low > unqualified_pct * n / 100.0:
            return LOW_QUALITY
        elif avg_qual > 0 and total // n < avg_qual:
            return LOW_QUALITY
        elif nn > n_limit:
            return TOO_MANY_N
    if len_filter:
        if n < len_required:
            return TOO_SHORT
        if len_limit > 0 and n > len_limit:
            return TOO_LONG
    if complexity and low_complexity(seq, b, n, complexity_pct):
        return LOW_COMPLEXITY
    return PASSED
