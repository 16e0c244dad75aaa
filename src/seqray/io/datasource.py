"""Ray Data datasources: `read_fastq`, `read_fasta`, `read_bam` return `ray.data.Dataset`s
with the read schema, one read task per planned chunk."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import ray
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from .parse import ReadOptions, count_chunk_records
from .readers import open_chunk
from .schema import read_schema
from .sources import number_chunks, plan_chunks

if TYPE_CHECKING:
    import pyarrow as pa
    from ray.data.context import DataContext

    from .chunks import Chunk


def _count_in_tasks(chunks: list[Chunk], options: ReadOptions) -> list[int]:
    count = ray.remote(count_chunk_records)
    # ray's overloads type a function whose last parameter has a default as taking none
    return ray.get([count.remote(c, options) for c in chunks])  # type: ignore[call-arg]


class SeqDatasource(Datasource):
    def __init__(
        self,
        paths: str | Sequence[str],
        mate_paths: str | Sequence[str] | None = None,
        *,
        fmt: str | None = None,
        phred_offset: int | str = "auto",
        chunk_bytes: int = 64 << 20,
        options: ReadOptions | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Ray's is unannotated
        self.options = options or ReadOptions()
        chunks, self.inputs = plan_chunks(
            paths, mate_paths, chunk_bytes=chunk_bytes, phred_offset=phred_offset, fmt=fmt
        )
        self.chunks = number_chunks(chunks, self.options, _count_in_tasks)
        self.paired = any(c.paired for c in self.chunks)  # mates, or paired Parquet/BAM

    def estimate_inmemory_data_size(self) -> int:
        return sum(i.info.size for i in self.inputs)

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: DataContext | None = None,
    ) -> list[ReadTask]:
        schema = read_schema(self.paired)
        tasks = []
        for ch in self.chunks:

            def read_fn(ch: Chunk = ch, options: ReadOptions = self.options) -> Iterator[pa.Table]:
                yield from open_chunk(ch, options)

            meta = BlockMetadata(
                num_rows=None,
                size_bytes=ch.end - ch.start,
                input_files=(ch.source,),
                exec_stats=None,
            )
            tasks.append(
                ReadTask(read_fn, meta, schema=schema, per_task_row_limit=per_task_row_limit)
            )
        return tasks


def read_reads(
    paths: str | Sequence[str],
    mate_paths: str | Sequence[str] | None = None,
    *,
    format: str | None = None,
    phred_offset: int | str = "auto",
    chunk_bytes: int = 64 << 20,
    alphabet: str = "dna",
    keep_iupac: bool = False,
    block_bases: int | None = None,
) -> ray.data.Dataset:
    opts = ReadOptions(alphabet=alphabet, keep_iupac=keep_iupac)
    if block_bases:
        opts.block_bases = block_bases
    ds = SeqDatasource(
        paths,
        mate_paths,
        fmt=format,
        phred_offset=phred_offset,
        chunk_bytes=chunk_bytes,
        options=opts,
    )
    dataset: ray.data.Dataset = ray.data.read_datasource(
        ds, override_num_blocks=max(1, len(ds.chunks))
    )
    return dataset


def read_fastq(
    paths: str | Sequence[str],
    mate_paths: str | Sequence[str] | None = None,
    phred_offset: int | str = "auto",
    **kw: Any,
) -> ray.data.Dataset:
    """FASTQ (plain, gzip, BGZF; local or s3://) as a Dataset; pairs give one row per pair."""
    return read_reads(paths, mate_paths, format="FASTQ", phred_offset=phred_offset, **kw)


def read_fasta(paths: str | Sequence[str], **kw: Any) -> ray.data.Dataset:
    """FASTA (multi-line) as a Dataset; `qual` is null."""
    return read_reads(paths, format="FASTA", **kw)


def read_bam(paths: str | Sequence[str], **kw: Any) -> ray.data.Dataset:
    """SAM/BAM/CRAM (pysam) as a Dataset of reads in sequencing orientation."""
    return read_reads(paths, **kw)
