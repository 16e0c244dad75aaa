"""One entry point that turns a planned chunk into Arrow read batches, whatever the format."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import FormatError
from .chunks import Chunk
from .fs import filesystem_for, local_copy
from .parse import (
    ChunkReader,
    ChunkResult,
    PairedChunkReader,
    ReadOptions,
    normalize_table,
)
from .schema import RECORD, SOURCE, read_schema, record_column, source_column


class BamReader:
    """SAM/BAM/CRAM through pysam: reads in their sequenced orientation (reverse-strand
    alignments are reverse-complemented back), secondary and supplementary alignments
    skipped, as `samtools fastq` does; header lines whole again (io/bam.py). A chunk
    planned as `paired` (an unaligned BAM/SAM of pairs, see sources.inspect_input) is
    read as pairs: read 1 then read 2, one row each pair.

    htslib opens local paths only, so an object on S3 is first copied to a temporary file
    of the task that reads it (`local_copy`), removed when the chunk is done."""

    def __init__(self, chunk: Chunk, options: ReadOptions):
        self.chunk = chunk
        self.options = options
        self.result = ChunkResult()

    def __iter__(self) -> Iterator[pa.Table]:
        import pysam

        uri = self.chunk.source
        with local_copy(uri) as path:
            yield from self._records(pysam, uri, path)

    def _records(self, pysam, uri: str, path: str) -> Iterator[pa.Table]:
        from .bam import check_mate, records_to_table

        mode = {"BAM": "rb", "CRAM": "rc", "SAM": "r"}[self.chunk.fmt]
        paired = self.chunk.paired
        try:
            f = pysam.AlignmentFile(path, mode, check_sq=False)
        except (OSError, ValueError) as exc:
            raise FormatError(f"cannot read {self.chunk.fmt}: {exc}", path=uri) from exc
        done = 0  # primary records already in yielded batches
        batch: list = []
        bases = 0

        def table():
            try:
                t = records_to_table(batch, uri, done // 2 if paired else done, paired)
            except ValueError as exc:  # a header tag that does not decode
                raise FormatError(f"bad {self.chunk.fmt} record: {exc}", path=uri) from exc
            return normalize_table(t, self.options, uri)

        with f:
            try:
                for aln in f.fetch(until_eof=True):
                    if aln.flag & 0x900:
                        continue
                    if paired:
                        check_mate(aln, done + len(batch), uri)
                    batch.append(aln)
                    bases += aln.query_length
                    if bases >= self.options.block_bases and not (paired and len(batch) % 2):
                        yield table()
                        done += len(batch)
                        batch, bases = [], 0
            except (OSError, ValueError) as exc:
                raise FormatError(
                    f"corrupt {self.chunk.fmt}: {exc}", path=uri, record=done + len(batch) + 1
                ) from exc
        if paired and len(batch) % 2:
            raise FormatError(
                "paired BAM: the last read 1 has no read 2", path=uri, record=done + len(batch)
            )
        if batch or done == 0:
            yield table()
            done += len(batch)
        self.result = ChunkResult(records=done // 2 if paired else done)


class ParquetReader:
    """Parquet files written by seqray (or any with the read schema's columns)."""

    def __init__(self, chunk: Chunk, options: ReadOptions):
        self.chunk = chunk
        self.options = options
        self.result = ChunkResult()

    def __iter__(self) -> Iterator[pa.Table]:
        try:
            yield from self._tables()
        except (OSError, pa.ArrowInvalid) as exc:
            raise FormatError(f"cannot read Parquet: {exc}", path=self.chunk.source) from exc

    def _tables(self) -> Iterator[pa.Table]:
        fs, path = filesystem_for(self.chunk.source)
        pf = pq.ParquetFile(path, filesystem=fs)
        names = pf.schema_arrow.names
        if "seq" not in names:
            raise FormatError("Parquet file has no 'seq' column", path=self.chunk.source)
        paired = "seq2" in names
        schema = read_schema(paired)
        n = 0
        for i in range(pf.num_row_groups):
            t = pf.read_row_group(i)
            cols = []
            for field in schema:
                if field.name == SOURCE:
                    cols.append(source_column(self.chunk.source, len(t)))
                elif field.name == RECORD:
                    cols.append(record_column(n, len(t)))
                elif field.name in t.column_names:
                    cols.append(t.column(field.name).cast(field.type))
                else:
                    cols.append(pa.nulls(len(t), field.type))
            table = pa.Table.from_arrays(cols, schema=schema)
            n += len(t)
            yield normalize_table(table, self.options, self.chunk.source)
        self.result = ChunkResult(records=n)


def open_chunk(chunk: Chunk, options: ReadOptions | None = None):
    """An iterable of Arrow tables with a `.result` (records, rejects, digest) when done."""
    options = options or ReadOptions()
    if chunk.mate is not None:
        return PairedChunkReader(chunk, options)
    if chunk.fmt in ("FASTQ", "FASTA"):
        return ChunkReader(chunk, options)
    if chunk.fmt in ("BAM", "SAM", "CRAM"):
        return BamReader(chunk, options)
    if chunk.fmt == "Parquet":
        return ParquetReader(chunk, options)
    raise FormatError(f"unsupported format {chunk.fmt}", path=chunk.source)
