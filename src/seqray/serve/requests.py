"""What `POST /embed` accepts: one JSON body `{"sequences": [str, ...]}`, checked against
the service's limits, its letters normalised the way seqray's readers normalise a read.

Everything here is plain Python and NumPy (no Ray), so every refusal is tested without a
server. A refusal is a `RequestError`: an HTTP status (400 bad request, 413 too large) and
a message that locates the problem (the index of the sequence, the letter).

Letters: a DNA model takes the letters a FASTQ read may hold, normalised as the readers
do (`io/parse.py`): A C G T N in either case, the other IUPAC codes and '.' as N. So a
sequence sent here and the same sequence in a FASTQ file give the same vector. A service
started with alphabet protein (a protein model, hf backend) takes the 26 letters (either
case) and '*'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..io.parse import ReadOptions, seq_table

MAX_SEQUENCES = 1024
MAX_SEQUENCE_LENGTH = 1_000_000
MAX_BODY_BYTES = 64 << 20


class RequestError(Exception):
    """A request the service refuses: `status` (4xx) and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    """The most a request may ask: sequences, letters in one sequence, bytes of body."""

    max_sequences: int = MAX_SEQUENCES
    max_sequence_length: int = MAX_SEQUENCE_LENGTH
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        for name in ("max_sequences", "max_sequence_length", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")


def letter_table(alphabet: str) -> np.ndarray:
    """int16[256]: the normalised letter of each byte, -1 for a byte refused (the readers'
    table for a FASTQ read of that alphabet)."""
    if alphabet not in ("dna", "protein"):
        raise ValueError(f"unknown alphabet {alphabet!r}; allowed: dna, protein")
    return seq_table(ReadOptions(alphabet=alphabet), False)


def check_body_size(content_length: str | None, limits: Limits) -> None:
    """Refuses a body whose declared length is over the limit before it is read."""
    if content_length is None:
        return
    try:
        size = int(content_length)
    except ValueError:
        raise RequestError(400, f"invalid Content-Length header {content_length!r}") from None
    if size > limits.max_body_bytes:
        raise RequestError(
            413, f"request body of {size} bytes is over the limit of {limits.max_body_bytes}"
        )


def parse_embed_request(body: bytes, limits: Limits, table: np.ndarray) -> list[bytes]:
    """The sequences of an embed request's body, upper-case ASCII, in request order.

    Raises RequestError: 400 for a body that is not JSON, not an object with a list of
    strings under "sequences", or a sequence with a letter the model does not take; 413
    for a body, a list or a sequence over `limits`.
    """
    if len(body) > limits.max_body_bytes:
        raise RequestError(
            413, f"request body of {len(body)} bytes is over the limit of {limits.max_body_bytes}"
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(400, 'request body must be a JSON object {"sequences": [...]}')
    if "sequences" not in data:
        raise RequestError(400, 'request body has no "sequences" (a list of strings)')
    sequences = data["sequences"]
    if not isinstance(sequences, list):
        kind = type(sequences).__name__
        raise RequestError(400, f'"sequences" must be a list of strings, not {kind}')
    if len(sequences) > limits.max_sequences:
        raise RequestError(
            413,
            f"{len(sequences)} sequences is over the limit of {limits.max_sequences} per "
            "request; send them in several requests",
        )
    for i, s in enumerate(sequences):
        if type(s) is not str:
            raise RequestError(400, f"sequence {i} is {type(s).__name__}, not a string")
        if len(s) > limits.max_sequence_length:
            raise RequestError(
                413,
                f"sequence {i} has {len(s)} letters, over the limit of "
                f"{limits.max_sequence_length}",
            )
    return normalise(sequences, table)


def normalise(sequences: list[str], table: np.ndarray) -> list[bytes]:
    """Upper-case ASCII bytes of each sequence through `table` (one NumPy lookup over all
    letters at once); the first refused letter raises RequestError(400) naming its
    sequence, position and the letter."""
    joined = "".join(sequences)
    lengths = np.fromiter(map(len, sequences), np.int64, len(sequences))
    offsets = np.zeros(len(sequences) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if joined.isascii():
        letters = table[np.frombuffer(joined.encode("ascii"), np.uint8)]
        refused = np.flatnonzero(letters < 0)
        first = int(refused[0]) if len(refused) else -1
    else:
        letters = None
        first = next(i for i, c in enumerate(joined) if ord(c) > 127 or table[ord(c)] < 0)
    if first >= 0:
        index = int(np.searchsorted(offsets, first, side="right")) - 1
        letter = joined[first]
        raise RequestError(
            400,
            f"sequence {index} has an invalid letter {letter!r} at position "
            f"{first - int(offsets[index])} (0-based)",
        )
    assert letters is not None
    values = letters.astype(np.uint8).tobytes()
    return [values[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
