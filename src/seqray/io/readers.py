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
    skipped, as `samtools fastq` does.

    htslib opens local paths only, so an object on S3 is first copied to a temporary file
    of the task that reads it (`local_copy`), removed when the chunk is done."""

    def __init__(self, chunk: Chunk, options: ReadOptions):
        self.chunk = chunk
        self.options = options
        self.result = ChunkResult()

    def __iter__(self) -> Iterator[pa.Table]:
        import pysam

        from .bam import records_to_table

        uri = self.chunk.source
        with local_copy(uri) as path:
            yield from self._records(pysam, records_to_table, uri, path)

    def _records(self, pysam, records_to_table, uri: str, path: str) -> Iterator[pa.Table]:
        mode = {"BAM": "rb", "CRAM": "rc", "SAM": "r"}[self.chunk.fmt]
        try:
            f = pysam.AlignmentFile(path, mode, check_sq=False)
        except (OSError, ValueError) as exc:
            raise FormatError(f"cannot read {self.chunk.fmt}: {exc}", path=uri) from exc
        record = 0
        batch: list = []
        bases = 0
        with f:
            try:
                for aln in f.fetch(until_eof=True):
                    if aln.flag & 0x900:
                        continue
                    batch.append(aln)
                    bases += aln.query_length
                    if bases >= self.options.block_bases:
                        yield normalize_table(
                            records_to_table(batch, uri, record), self.options, uri
                        )
                        record += len(batch)
                        batch, bases = [], 0
            except (OSError, ValueError) as exc:
                raise FormatError(
                    f"corrupt {self.chunk.fmt}: {exc}", path=uri, record=record + len(batch) + 1
                ) from exc
        if batch or record == 0:
            yield normalize_table(records_to_table(batch, uri, record), self.options, uri)
            record += len(batch)
        self.result = ChunkResult(records=record)


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
