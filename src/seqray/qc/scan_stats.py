"""Statistics of a chunk straight from the text, for `seqray inspect`.

Building Arrow columns costs more than counting. For FASTQ a one-pass scanner counts
while it finds the records (plain records only); for FASTA the records' boundaries are
counted through the reader's lookup tables. Whatever the fast path does not handle (CRLF,
blank lines, a refused byte, an error), the chunk is read again the ordinary way, so
statistics, errors and rejects are exactly the reader's.
"""

from __future__ import annotations

import numpy as np

from ..io import _kernels as K
from ..io._swar import words_of
from ..io.chunks import Chunk
from ..io.parse import NAME_TABLE, BailOut, ChunkReader, ReadOptions, seq_table
from ..io.readers import open_chunk
from .stats import ReadStats, first_invalid


def chunk_stats(chunk: Chunk, options: ReadOptions) -> ReadStats:
    if chunk.fmt not in ("FASTQ", "FASTA") or chunk.mate is not None:
        return _read_fully(chunk, options)
    try:
        if chunk.fmt == "FASTQ":
            return _fastq_stats(chunk, options)
        return _fasta_stats(chunk, options)
    except BailOut:
        return _read_fully(chunk, options)


def _fastq_stats(chunk: Chunk, options: ReadOptions) -> ReadStats:
    stable = seq_table(options, False)
    qlo = np.uint8(chunk.phred_offset)

    def scan(buf, pos, owner_end, eof, out, max_bases, _lenient):
        words = words_of(buf)
        return K.scan_fastq_stats(
            buf, words, pos, owner_end, eof, out, max_bases, NAME_TABLE, stable, qlo
        )

    st = ReadStats()
    for _, rows, _, _ in ChunkReader(chunk, options).iter_raw(scan):
        st.add_lengths(rows[:, 0])
        st.gc += int(rows[:, 1].sum())
        st.n_bases += int(rows[:, 2].sum())
        st.q20 += int(rows[:, 3].sum())
        st.q30 += int(rows[:, 4].sum())
        st.qual_bases += int(rows[:, 0].sum())
        st.has_qual |= len(rows) > 0
    return st


def _fasta_stats(chunk: Chunk, options: ReadOptions) -> ReadStats:
    stable = seq_table(options, True)
    st = ReadStats()
    for buf, rows, _, _ in ChunkReader(chunk, options).iter_raw():
        good = rows[rows[:, 6] == 0]
        if first_invalid(buf, good[:, 0], good[:, 1], NAME_TABLE) >= 0:
            raise BailOut()
        if st.add_seqs(buf, good[:, 2], good[:, 3], stable, True) >= 0:
            raise BailOut()
    return st


def _read_fully(chunk: Chunk, options: ReadOptions) -> ReadStats:
    st = ReadStats()
    for table in open_chunk(chunk, options):
        st.add_table(table)
    return st
