"""The 64-bit integer mixer every hash in seqray is built on (splitmix64's finaliser): k-mer
table slots, minimizer order, hashed token buckets, token sketches and read hashes.

It lives in one place because its output is part of seqray's outputs (hashed token ids,
partitioned spill files): changing it changes them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_F1 = np.uint64(0xBF58476D1CE4E5B9)
_F2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True, inline="always")
def mix64(x):
    """Mixes a uint64 (or, element-wise, a uint64 array) so that nearby codes spread evenly."""
    x = (x ^ (x >> np.uint64(30))) * _F1
    x = (x ^ (x >> np.uint64(27))) * _F2
    return x ^ (x >> np.uint64(31))
