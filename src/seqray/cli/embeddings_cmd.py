"""`seqray embeddings`: k-mer embedding models (`export` here; training and tuning join
this sub-app)."""

from __future__ import annotations

import typer

from .common import console
from .embeddings_train_cmd import train, tune

embeddings_app = typer.Typer(
    no_args_is_help=True, help="k-mer embedding models (LSHvec-style): train, export, tune."
)


@embeddings_app.command("export")
def export(
    model_dir: str = typer.Argument(..., help="Embedding model directory."),
    word2vec: str = typer.Option(
        None, "--word2vec", help="Write a word2vec file (words: bucket ids in decimal)."
    ),
    binary: bool = typer.Option(False, "--binary", help="--word2vec: the binary format."),
    parquet: str = typer.Option(
        None, "--parquet", help="Write a Parquet file: bucket (uint32), vector."
    ),
) -> None:
    """Export a model's bucket vectors (as float32) for other tools: word2vec text or
    binary (gensim's KeyedVectors.load_word2vec_format loads it) and/or Parquet. An
    existing file is never replaced (seqray cannot tell it wrote it), as with `convert`."""
    from ..embed.model import EmbeddingModel, describe

    outputs = [(p, fmt) for p, fmt in ((word2vec, "word2vec"), (parquet, "parquet")) if p]
    if not outputs:
        raise typer.BadParameter("give --word2vec FILE and/or --parquet FILE")
    if word2vec and parquet and _same(word2vec, parquet):
        raise typer.BadParameter("--word2vec and --parquet name the same file")
    model = EmbeddingModel.load(model_dir)
    for path, _ in outputs:
        _check_target(path, model_dir)
    for path, fmt in outputs:
        table = model.table
        f = table.to_word2vec(path, binary) if fmt == "word2vec" else table.to_parquet(path)
        console.print(f"wrote {f.uri} ({describe(model)})", highlight=False)


def _same(a: str, b: str) -> bool:
    from ..pipeline.outputs import normalize

    return normalize(a) == normalize(b)


def _check_target(path: str, model_dir: str) -> None:
    """A new file, and not one of the model's own (a clearer message than "exists")."""
    from ..embed.model import ARRAY_FILES, META
    from ..errors import OutputError
    from ..io.fs import join
    from ..pipeline.outputs import check_new_file, normalize

    own = [join(model_dir, n) for n in (*ARRAY_FILES, META)]
    for f in own:
        if normalize(f) == normalize(path):  # symlinks resolved
            raise OutputError(f"{path}: is the model's own {f}; choose another name")
    check_new_file(path, own, "embeddings export")


embeddings_app.command("train")(train)
embeddings_app.command("tune")(tune)
