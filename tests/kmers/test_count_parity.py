"""Exact parity with jellyfish (and KMC where it counts the same thing) on real reads, reads
with N, reads shorter than k, and a multi-line FASTA genome."""

from __future__ import annotations

import random
import subprocess

import numpy as np
import pytest

from seqray.kmers.encode import decode_kmers, encode_kmers

from ..conftest import EXAMPLES
from .countdata import jellyfish, parity_input, read_counts, seqray_count

pytestmark = [
    pytest.mark.integration,
    pytest.mark.peers("jellyfish"),
]


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    return parity_input(tmp_path_factory.mktemp("parity"))


@pytest.mark.parametrize("k", [15, 21, 25, 31])
def test_jellyfish_parity_on_reads(reads, tmp_path, k):
    ours = seqray_count([reads], tmp_path / "out", k, "-C")
    peer = jellyfish([reads], tmp_path, k)
    for key in ("distinct", "total", "singletons", "max_count"):
        assert ours[key] == peer[key], key
    assert (tmp_path / "out" / "histo.txt").read_text() == peer["histo"]
    # every k-mer one by one, not a sample: the tables are small
    kmers, counts = read_counts(tmp_path / "out")
    assert len(kmers) == len(peer["counts"])
    codes = encode_kmers(list(peer["counts"]), k)
    order = np.argsort(codes)
    assert np.array_equal(kmers, codes[order])
    assert np.array_equal(counts, np.array(list(peer["counts"].values()), np.uint64)[order])


def test_jellyfish_parity_forward_strand_and_fasta(tmp_path):
    """Without -C (each strand on its own) on the multi-line phiX genome plus reads."""
    inputs = [EXAMPLES / "phix174.fa", EXAMPLES / "phix_R1.fastq.gz"]
    plain = tmp_path / "phix_R1.fq"
    plain.write_bytes(subprocess.run(["zcat", str(inputs[1])], capture_output=True).stdout)
    ours = seqray_count(inputs, tmp_path / "out", 25)
    peer = jellyfish([inputs[0], plain], tmp_path, 25, canonical=False)
    assert (ours["distinct"], ours["total"]) == (peer["distinct"], peer["total"])
    assert (tmp_path / "out" / "histo.txt").read_text() == peer["histo"]
    kmers, counts = read_counts(tmp_path / "out")
    rng = random.Random(3)
    sample = rng.sample(sorted(peer["counts"]), 300)
    got = dict(zip(decode_kmers(kmers, 25), counts.tolist()))
    assert [got[s] for s in sample] == [peer["counts"][s] for s in sample]


def test_query_matches_jellyfish_query(reads, tmp_path):
    from seqray.kmers.query import KmerCounts

    seqray_count([reads], tmp_path / "out", 21, "-C")
    peer = jellyfish([reads], tmp_path, 21)
    rng = random.Random(5)
    present = rng.sample(sorted(peer["counts"]), 50)
    absent = ["".join(rng.choice("ACGT") for _ in range(21)) for _ in range(20)]
    asked = present + absent
    q = subprocess.run(
        ["jellyfish", "query", str(peer["db"]), *asked], check=True, capture_output=True
    )
    expected = [int(line.split()[1]) for line in q.stdout.decode().splitlines()]
    assert KmerCounts(str(tmp_path / "out")).lookup(asked).tolist() == expected


@pytest.mark.peers("kmc", "kmc_tools")
@pytest.mark.parametrize("k", [21, 31])
def test_kmc_parity(reads, tmp_path, k):
    """KMC with -ci1 (keep singletons) and a count cap above any count: canonical counts."""
    ours = seqray_count([reads], tmp_path / "out", k, "-C")
    work = tmp_path / "kmc_tmp"
    work.mkdir()
    db = tmp_path / "kmc"
    subprocess.run(
        ["kmc", f"-k{k}", "-ci1", "-cs1000000", "-t2", str(reads), str(db), str(work)],
        check=True,
        capture_output=True,
    )
    histo = tmp_path / "kmc.histo"
    dump = tmp_path / "kmc.dump"
    run = ["kmc_tools", "transform", str(db)]
    subprocess.run(run + ["histogram", str(histo), "-cx1000000"], check=True, capture_output=True)
    subprocess.run(run + ["dump", str(dump)], check=True, capture_output=True)
    peer_histo = "".join(
        f"{c} {n}\n"
        for c, n in (line.split() for line in histo.read_text().splitlines())
        if n != "0"
    )
    assert (tmp_path / "out" / "histo.txt").read_text() == peer_histo
    peer = dict(line.split() for line in dump.read_text().splitlines())
    assert ours["distinct"] == len(peer)
    kmers, counts = read_counts(tmp_path / "out")
    assert dict(zip(decode_kmers(kmers, k), map(str, counts.tolist()))) == peer
