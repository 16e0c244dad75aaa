"""Statistics of a chunk straight from the scanner, for `seqray inspect`.

Building Arrow columns costs more than counting; when only statistics are wanted, the
scanner's record boundaries are counted through the same lookup tables the reader uses.
If a record holds a byte the reader would refuse, the chunk is read again the ordinary way,
so errors (and rejects) are exactly the reader's.
"""

from __future__ import annotations

from ..io.chunks import Chunk
from ..io.parse import NAME_TABLE, ChunkReader, ReadOptions, seq_table
from ..io.readers import open_chunk
from .stats import ReadStats, first_invalid


def chunk_stats(chunk: Chunk, options: ReadOptions) -> ReadStats:
    if chunk.fmt not in ("FASTQ", "FASTA") or chunk.mate is not None:
        return _read_fully(chunk, options)
    reader = ChunkReader(chunk, options)
    fastq = chunk.fmt == "FASTQ"
    stable = seq_table(options.alphabet, options.keep_iupac, not fastq)
    st = ReadStats()
    for buf, rows, _, _ in reader.iter_raw():
        good = rows[rows[:, 6] == 0]
        if first_invalid(buf, good[:, 0], good[:, 1], NAME_TABLE) >= 0:
            return _read_fully(chunk, options)
        if st.add_seqs(buf, good[:, 2], good[:, 3], stable, not fastq) >= 0:
            return _read_fully(chunk, options)
        if fastq and st.add_quals(buf, good[:, 4], good[:, 5], chunk.phred_offset) >= 0:
            return _read_fully(chunk, options)
    return st


def _read_fully(chunk: Chunk, options: ReadOptions) -> ReadStats:
    st = ReadStats()
    for table in open_chunk(chunk, options):
        st.add_table(table)
    return st
