"""`seqray classify`: k-mer read classifiers — train one, predict with it."""

from __future__ import annotations

import typer

from .classify_predict_cmd import predict
from .classify_train_cmd import train

classify_app = typer.Typer(
    no_args_is_help=True,
    help="Read classification (fastDNA-style supervised k-mer models): train, predict.",
)
classify_app.command("train")(train)
classify_app.command("predict")(predict)
