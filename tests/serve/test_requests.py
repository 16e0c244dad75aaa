"""Without a server: every refusal of a request (status and a message that locates it),
the limits, letters normalised exactly as the FASTQ reader normalises them, and batched
requests split back (a model's refusal kept to its own request)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqray.serve.requests import (
    Limits,
    RequestError,
    check_body_size,
    letter_table,
    normalise,
    parse_embed_request,
)

DNA = letter_table("dna")
LIMITS = Limits(max_sequences=4, max_sequence_length=10, max_body_bytes=200)


def parse(body: object, limits: Limits = LIMITS, table: np.ndarray = DNA) -> list[bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_embed_request(raw, limits, table)


def refused(body: object, limits: Limits = LIMITS, table: np.ndarray = DNA) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse(body, limits, table)
    return info.value


def test_sequences_are_upper_cased_in_order():
    assert parse({"sequences": ["acgt", "NNac", "", "T"]}) == [b"ACGT", b"NNAC", b"", b"T"]
    assert parse({"sequences": []}) == []
    assert parse({"sequences": ["A"], "other": 1}) == [b"A"]  # other keys are ignored


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"{not json", 400, "request body is not valid JSON"),
        (b"\xff\xfe", 400, "request body is not valid JSON"),
        ([], 400, 'request body must be a JSON object {"sequences": [...]}'),
        ({}, 400, 'request body has no "sequences" (a list of strings)'),
        ({"sequences": "ACGT"}, 400, '"sequences" must be a list of strings, not str'),
        ({"sequences": None}, 400, '"sequences" must be a list of strings, not NoneType'),
        ({"sequences": ["AC", 5]}, 400, "sequence 1 is int, not a string"),
        ({"sequences": ["AC", ["A"]]}, 400, "sequence 1 is list, not a string"),
        ({"sequences": ["A"] * 5}, 413, "5 sequences is over the limit of 4 per request"),
        ({"sequences": ["A", "A" * 11]}, 413, "sequence 1 has 11 letters, over the limit of 10"),
        (b" " * 201, 413, "request body of 201 bytes is over the limit of 200"),
    ],
)
def test_refusals(body, status, message):
    err = refused(body)
    assert err.status == status
    assert message in err.message, err.message


@pytest.mark.parametrize(
    "sequences, message",
    [
        (["ACGT", "ACXT"], "sequence 1 has an invalid letter 'X' at position 2"),
        (["ACGT", "AC GT"], "sequence 1 has an invalid letter ' ' at position 2"),
        (["", "", "ACG-"], "sequence 2 has an invalid letter '-' at position 3"),
        (["ACGT", "ACGé"], "sequence 1 has an invalid letter 'é' at position 3"),
        (["AC1", "ACGé"], "sequence 0 has an invalid letter '1' at position 2"),
        (["ACGT\n"], "sequence 0 has an invalid letter '\\n' at position 4"),
    ],
)
def test_an_invalid_letter_is_located(sequences, message):
    err = refused({"sequences": sequences})
    assert err.status == 400 and message in err.message, err.message


def test_letters_as_the_reader_reads_them(tmp_path):
    """A sequence sent to the service and the same sequence in a FASTQ file are the same
    bytes: lower case upper-cased, IUPAC codes and '.' as N."""
    from seqray.cli.common import iter_chunk_tables
    from seqray.io.parse import ReadOptions
    from seqray.io.sources import plan_chunks

    seqs = ["acgtn", "ACRYSWKMBDHVU.", "rykmacgt", "", "N"]
    fq = tmp_path / "r.fq"
    fq.write_text("".join(f"@r{i}\n{s}\n+\n{'I' * len(s)}\n" for i, s in enumerate(seqs)))
    chunks, _ = plan_chunks([str(fq)])
    (_, table), *_ = iter_chunk_tables(chunks, ReadOptions())
    assert normalise(seqs, DNA) == table.column("seq").to_pylist()
    assert normalise(seqs, DNA)[1] == b"ACNNNNNNNNNNNN"


def test_protein_letters():
    protein = letter_table("protein")
    assert normalise(["mkvl*", "ACDEFGHIKLMNPQRSTVWYXBZUO"], protein)[0] == b"MKVL*"
    err = refused({"sequences": ["MKV1"]}, table=protein)
    assert "sequence 0 has an invalid letter '1' at position 3" in err.message
    with pytest.raises(ValueError, match="unknown alphabet"):
        letter_table("rna")


def test_declared_body_size():
    check_body_size(None, LIMITS)
    check_body_size("200", LIMITS)
    with pytest.raises(RequestError) as info:
        check_body_size("201", LIMITS)
    assert info.value.status == 413
    with pytest.raises(RequestError) as info:
        check_body_size("lots", LIMITS)
    assert info.value.status == 400


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_sequences must be at least 1"):
        Limits(max_sequences=0)


def test_batched_requests_are_split_back_and_a_refusal_stays_with_its_request():
    """embed_requests (what serve.batch calls): one embed call for all requests; when the
    model refuses a sequence, only the request holding it gets the error."""
    import asyncio

    from seqray.errors import InputError
    from seqray.serve.app import embed_requests

    calls: list[list[bytes]] = []

    async def embed(seqs: list[bytes]) -> np.ndarray:
        calls.append(seqs)
        for i, s in enumerate(seqs):
            if s == b"BAD":
                raise InputError(f"sequence {i}: refused")
        return np.array([[len(s), s.count(b"A")] for s in seqs], np.float32).reshape(-1, 2)

    items = [[b"AAC", b"G"], [], [b"AAAA"]]
    out = asyncio.run(embed_requests(items, embed))
    assert calls == [[b"AAC", b"G", b"AAAA"]]
    assert [o.tolist() for o in out] == [[[3, 2], [1, 0]], [], [[4, 4]]]

    calls.clear()
    out = asyncio.run(embed_requests([[b"AC"], [b"T", b"BAD"], [b"A"]], embed))
    assert len(calls) == 4  # the batch, then each request alone
    assert out[0].tolist() == [[2, 1]] and out[2].tolist() == [[1, 1]]
    assert isinstance(out[1], InputError) and str(out[1]) == "sequence 1: refused"
