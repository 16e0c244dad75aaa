"""k-mers to bucket ids for embeddings: LSHvec's locality-sensitive hash and two baselines.

Embedding tables cannot hold 4^k rows, and sequencing errors flood an exact vocabulary with
rare k-mers. LSHvec (Shi & Chen, ACM BCB 2021) hashes a k-mer, read as a complex vector
(A = -1, T = +1, C = -i, G = +i, so the complement is the negation), against `hash_bits`
random hyperplanes; each hyperplane is the affine hull of k k-mers sampled from the data
(the null vector (n, c) of the k x (k+1) system [x_j, -1], by SVD), and bit i is set when
Re(n_i . x) > Re(c_i). Similar k-mers fall on the same side of most planes, so they share
buckets. The reverse complement is hashed too and the smaller id kept, so a k-mer and its
reverse complement share every bucket. Baselines with the same interface: FNV-1a (64-bit,
over the 8 little-endian bytes of the canonical 2-bit code) modulo a bucket count, and the
exact canonical 2-bit code (k <= 16, so ids fit uint32).

Two departures from LSHvec's Python, both for reproducibility: each null vector's phase
(arbitrary in LAPACK's answer) is fixed by rotating its largest component onto the positive
real axis and then by a phase drawn from the seed; and the projections are summed in fixed
point (2^-48 units), so a sum never depends on its order: the reverse complement's bits are
exactly those of the k-mer read backwards, and saved models rehash bit-identically anywhere.

The kernel walks the 2-bit codes of seqray.kmers.encode (a rolling update per base); the LSH
projection of a window is ceil(k/4) lookups of one byte of its code in a table holding, for
every 4-base chunk, the summed contributions to all planes for the k-mer and its reverse
complement at once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numba import njit

from ..errors import ConfigError
from ..kmers.encode import ACGT, MAX_K, _mask, valid_kmers, window_offsets

FORMAT_VERSION = 1
MAX_HASH_BITS = 32
MAX_EXACT_K = 16
MAX_BUCKETS = 2**32
DEFAULT_HASH_BITS = 22  # LSHvec's default hash_size
SCALE_BITS = 48  # fixed-point unit 2^-48; k <= 32 terms of |x| <= 1 stay below 2^53

# complex value of each 2-bit code (A=0, C=1, G=2, T=3): the complement (3 - b) negates it
BASE_VALUES = np.array([-1, -1j, 1j, 1], dtype=np.complex128)
BASE_VALUES.setflags(write=False)

_EXACT, _FNV, _LSH = 0, 1, 2
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_BYTE = np.uint64(0xFF)
_EIGHT = np.uint64(8)
_TWO = np.uint64(2)
_THREE = np.uint64(3)
_ONE = np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def fnv1a64(code):
    """FNV-1a (64-bit) of a uint64's 8 bytes, least significant first."""
    h = _FNV_OFFSET
    for _ in range(8):
        h = (h ^ (code & _BYTE)) * _FNV_PRIME
        code = code >> _EIGHT
    return h


@njit(cache=True, nogil=True)
def _hash_windows(values, offsets, k, mode, buckets, table, thresholds, ids, id_offsets):
    mask = _mask(k)
    top = np.uint64(2 * (k - 1))
    nbits = thresholds.shape[0]
    nchunks = table.shape[0]
    width = table.shape[2]
    acc = np.zeros(width, np.int64)
    n = 0
    id_offsets[0] = 0
    for i in range(len(offsets) - 1):
        fwd = np.uint64(0)
        rev = np.uint64(0)
        run = 0  # valid bases ending here
        for j in range(offsets[i], offsets[i + 1]):
            c = ACGT[values[j]]
            if c >= 4:
                run = 0
                continue  # the next k valid bases overwrite the whole state
            run += 1
            cu = np.uint64(c)
            fwd = ((fwd << _TWO) | cu) & mask
            rev = (rev >> _TWO) | ((_THREE - cu) << top)
            if run < k:
                continue
            if mode == _LSH:
                acc[:] = 0
                x = fwd
                for ch in range(nchunks):
                    row = table[ch, np.int64(x & _BYTE)]
                    for t in range(width):
                        acc[t] += row[t]
                    x = x >> _EIGHT
                a = np.uint64(0)
                b = np.uint64(0)
                for t in range(nbits):
                    bit = _ONE << np.uint64(t)
                    if acc[t] > thresholds[t]:
                        a |= bit
                    if acc[nbits + t] > thresholds[t]:
                        b |= bit
                ids[n] = min(a, b)
            elif mode == _FNV:
                ids[n] = fnv1a64(min(fwd, rev)) % buckets
            else:
                ids[n] = min(fwd, rev)
            n += 1
        id_offsets[i + 1] = n
    return n


_NO_TABLE = np.zeros((1, 256, 2), np.int64)
_NO_THRESHOLDS = np.zeros(1, np.int64)


def _check_k(k: int, limit: int = MAX_K) -> int:
    if isinstance(k, bool) or int(k) != k or not 1 <= int(k) <= limit:
        raise ConfigError(f"embeddings: k must be between 1 and {limit}, got {k}", [("k", "")])
    return int(k)


def _check_hash_bits(bits: int) -> int:
    if isinstance(bits, bool) or int(bits) != bits or not 1 <= int(bits) <= MAX_HASH_BITS:
        raise ConfigError(
            f"embeddings: hash_bits must be between 1 and {MAX_HASH_BITS}, got {bits}",
            [("hash_bits", "")],
        )
    return int(bits)


class KmerHasher:
    """Maps every valid k-mer window of a batch of reads to a uint32 bucket id."""

    scheme: ClassVar[str]
    k: int

    def id_space(self) -> int:
        """Ids are below this."""
        raise NotImplementedError

    def _kernel_args(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(mode, buckets, table, thresholds) for the kernel."""
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    def hash_reads(self, values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """values: uint8 ASCII bases of n reads concatenated, offsets: int64[n+1].

        Returns (ids uint32[m], id_offsets int64[n+1]): the canonical bucket id of every
        window of k valid bases (stride 1, read order; windows holding N or any byte other
        than ACGT/acgt are skipped), read i's sentence being ids[id_offsets[i]:id_offsets[i+1]].
        """
        values = np.ascontiguousarray(values).view(np.uint8)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) == 0:
            raise ValueError("hash_reads: offsets must be int64[n+1] (at least one entry)")
        ids = np.empty(int(window_offsets(offsets, self.k)[-1]), np.uint32)
        id_offsets = np.empty(len(offsets), np.int64)
        mode, buckets, table, thresholds = self._kernel_args()
        m = _hash_windows(
            values, offsets, self.k, mode, np.uint64(buckets), table, thresholds, ids, id_offsets
        )
        return ids[:m], id_offsets

    def to_json(self) -> dict[str, Any]:
        """The small part of the model (scheme, k, parameters, format version)."""
        return {"scheme": self.scheme, "version": FORMAT_VERSION, "k": self.k, **self._params()}

    def arrays(self) -> dict[str, np.ndarray]:
        """The large part of the model (for an .npz next to the JSON)."""
        return {}


class ExactHasher(KmerHasher):
    """The canonical 2-bit code itself: one bucket per canonical k-mer (k <= 16)."""

    scheme = "exact"

    def __init__(self, k: int):
        self.k = _check_k(k, MAX_EXACT_K)

    def id_space(self) -> int:
        return 4**self.k

    def _kernel_args(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        return _EXACT, 0, _NO_TABLE, _NO_THRESHOLDS


class FnvHasher(KmerHasher):
    """FNV-1a 64 of the canonical code's 8 little-endian bytes, modulo `buckets`."""

    scheme = "fnv"

    def __init__(self, k: int, buckets: int):
        self.k = _check_k(k)
        if isinstance(buckets, bool) or int(buckets) != buckets or not 1 <= buckets <= MAX_BUCKETS:
            raise ConfigError(
                f"embeddings: buckets must be between 1 and 2^32, got {buckets}",
                [("buckets", "")],
            )
        self.buckets = int(buckets)

    def id_space(self) -> int:
        return self.buckets

    def _params(self) -> dict[str, Any]:
        return {"buckets": self.buckets}

    def _kernel_args(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        return _FNV, self.buckets, _NO_TABLE, _NO_THRESHOLDS


class LshHasher(KmerHasher):
    """LSHvec's hyperplane hash: planes `normals` complex[hash_bits, k], `offsets` complex[bits].

    Bit i of a k-mer x is Re(normals[i] . x) > Re(offsets[i]) (in fixed point); the id is
    the smaller of the k-mer's and its reverse complement's bit patterns (bit i -> 1 << i).
    """

    scheme = "lsh"

    def __init__(self, k: int, normals: np.ndarray, offsets: np.ndarray, seed: int | None = None):
        self.k = _check_k(k)
        normals = np.asarray(normals, dtype=np.complex128)
        offsets = np.asarray(offsets, dtype=np.complex128)
        if normals.ndim != 2 or normals.shape[1] != self.k:
            raise ConfigError(f"embeddings: LSH planes must have shape (hash_bits, {self.k})")
        self.hash_bits = _check_hash_bits(normals.shape[0])
        if offsets.shape != (self.hash_bits,):
            raise ConfigError(f"embeddings: LSH offsets must have shape ({self.hash_bits},)")
        if not (np.isfinite(normals).all() and np.isfinite(offsets).all()):
            raise ConfigError("embeddings: LSH planes hold NaN or infinite values")
        if np.abs(normals).max() > 1.0 or np.abs(offsets).max() > 1.0:
            raise ConfigError("embeddings: LSH planes must be unit vectors (|component| <= 1)")
        self.normals = normals
        self.offsets = offsets
        self.seed = seed
        self.table, self.thresholds = _chunk_table(normals, offsets)

    def id_space(self) -> int:
        return 2**self.hash_bits

    def _params(self) -> dict[str, Any]:
        return {"hash_bits": self.hash_bits, "seed": self.seed, "scale_bits": SCALE_BITS}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"normals": self.normals, "offsets": self.offsets}

    def _kernel_args(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        return _LSH, 0, self.table, self.thresholds


def _fixed(x: np.ndarray) -> np.ndarray:
    # np.round is symmetric (round(-x) == -round(x)), so complements stay exact negations
    return np.round(x * float(2**SCALE_BITS)).astype(np.int64)


def _chunk_table(normals: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(table int64[ceil(k/4), 256, 2*bits], thresholds int64[bits]) for the kernel.

    table[c, v] sums, over the 4 bases that byte c of a k-mer's code holds (value v), their
    fixed-point contributions to every plane: columns [0, bits) for the k-mer, [bits, 2*bits)
    for its reverse complement (base b at position p there is 3 - b at k-1-p)."""
    bits, k = normals.shape
    # per[p, b, i] = Re(normals[i, p] * value(b))
    per = _fixed((normals.T[:, None, :] * BASE_VALUES[None, :, None]).real)
    rc = -per[::-1]  # the rc k-mer's base at p is the complement of ours at k-1-p
    both = np.concatenate([per, rc], axis=2)  # [k, 4, 2*bits]
    nchunks = (k + 3) // 4
    table = np.zeros((nchunks, 256, 2 * bits), np.int64)
    v = np.arange(256)
    for c in range(nchunks):
        for m in range(4):
            p = k - 1 - (4 * c + m)  # byte c's 2-bit group m (from the low end) holds base p
            if p >= 0:
                table[c] += both[p, (v >> (2 * m)) & 3]
    return table, _fixed(offsets.real)


def _code_values(codes: np.ndarray, k: int) -> np.ndarray:
    """complex[n, k]: the k-mers of 2-bit codes as LSHvec's complex vectors."""
    shifts = np.arange(2 * (k - 1), -1, -2, dtype=np.uint64)
    digits = (codes[:, None] >> shifts[None, :]) & np.uint64(3)
    return BASE_VALUES[digits.astype(np.intp)]


def fit_lsh(k: int, hash_bits: int, sample: np.ndarray, seed: int) -> LshHasher:
    """Planes through k k-mers each, drawn (without replacement) from `sample` (forward 2-bit
    codes from the data, at least hash_bits * k of them); deterministic for a seed."""
    k = _check_k(k)
    hash_bits = _check_hash_bits(hash_bits)
    sample = np.asarray(sample, dtype=np.uint64)
    if len(sample) < hash_bits * k:
        raise ConfigError(
            f"embeddings: fitting {hash_bits} LSH planes for k = {k} needs at least "
            f"{hash_bits * k} sampled k-mers, got {len(sample)} (give more reads)"
        )
    rng = np.random.default_rng(seed)
    points = _code_values(sample, k)
    normals = np.empty((hash_bits, k), np.complex128)
    offsets = np.empty(hash_bits, np.complex128)
    system = np.full((k, k + 1), -1.0 + 0j)
    for i in range(hash_bits):
        system[:, :k] = points[rng.choice(len(sample), size=k, replace=False)]
        null = np.linalg.svd(system)[2][-1].conj()  # system @ null ~ 0: x_j . n = c
        big = null[np.argmax(np.abs(null))]
        null = null * (np.conj(big) / abs(big)) * np.exp(1j * rng.uniform(0.0, 2 * np.pi))
        null /= np.linalg.norm(null)
        normals[i] = null[:k]
        offsets[i] = null[k]
    return LshHasher(k, normals, offsets, seed=int(seed))


def sample_kmers(values: np.ndarray, offsets: np.ndarray, k: int, n: int, seed: int) -> np.ndarray:
    """n forward codes of valid k-mers drawn without replacement from the reads (all of them,
    in read order, when the reads hold n or fewer); deterministic for a seed."""
    k = _check_k(k)
    codes = valid_kmers(np.ascontiguousarray(values).view(np.uint8), offsets, k, canonical=False)
    if len(codes) <= n:
        return codes
    idx = np.random.default_rng(seed).choice(len(codes), size=int(n), replace=False)
    return codes[np.sort(idx)]


def make_hasher(
    scheme: str,
    k: int,
    *,
    hash_bits: int | None = None,
    buckets: int | None = None,
    sample: np.ndarray | None = None,
    seed: int = 0,
) -> KmerHasher:
    """A hasher by scheme name. lsh: `hash_bits` planes (default 22) fitted on `sample`;
    fnv: `buckets`, else 2^hash_bits, else 2^22 (equal table size to lsh); exact: neither."""
    if scheme == "lsh":
        if sample is None:
            raise ConfigError("embeddings: the lsh hash needs a sample of k-mers to fit")
        return fit_lsh(k, DEFAULT_HASH_BITS if hash_bits is None else hash_bits, sample, seed)
    if scheme == "fnv":
        if buckets is None:
            buckets = 2 ** _check_hash_bits(DEFAULT_HASH_BITS if hash_bits is None else hash_bits)
        return FnvHasher(k, buckets)
    if scheme == "exact":
        return ExactHasher(k)
    raise ConfigError(
        f"embeddings: unknown hash {scheme!r} (choose lsh, fnv or exact)", [("hash", "")]
    )


def hasher_for_reads(
    scheme: str,
    k: int,
    hash_bits: int,
    values: np.ndarray,
    offsets: np.ndarray,
    seed: int,
    buckets: int | None = None,
) -> KmerHasher:
    """The hasher a training run uses: LSH planes fitted to k-mers of these reads (4 per
    plane coordinate, at least 1,000), FNV over `buckets` (default 2^hash_bits), or exact."""
    if scheme == "lsh":
        kmers = sample_kmers(values, offsets, k, max(hash_bits * k * 4, 1000), seed)
        return fit_lsh(k, hash_bits, kmers, seed)
    return make_hasher(scheme, k, buckets=(buckets or 2**hash_bits) if scheme == "fnv" else None)


def hasher_from(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> KmerHasher:
    """The hasher that `to_json()` and `arrays()` describe (their exact inverse)."""
    version = meta.get("version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"embeddings: hash model version {version!r} is not supported "
            f"(this seqray reads version {FORMAT_VERSION})"
        )
    scheme = meta.get("scheme")
    if scheme == "lsh":
        if meta.get("scale_bits") != SCALE_BITS:
            raise ConfigError(f"embeddings: LSH scale_bits {meta.get('scale_bits')!r} unsupported")
        missing = {"normals", "offsets"} - set(arrays)
        if missing:
            raise ConfigError(f"embeddings: the LSH hash model lacks {sorted(missing)}")
        hasher = LshHasher(meta["k"], arrays["normals"], arrays["offsets"], seed=meta.get("seed"))
        if hasher.hash_bits != meta.get("hash_bits"):
            raise ConfigError("embeddings: LSH planes do not match hash_bits in the model")
        return hasher
    if scheme == "fnv":
        return FnvHasher(meta["k"], meta["buckets"])
    if scheme == "exact":
        return ExactHasher(meta["k"])
    raise ConfigError(f"embeddings: unknown hash scheme {scheme!r} in the model")
