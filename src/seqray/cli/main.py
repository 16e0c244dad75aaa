"""The `seqray` command. Exit codes: 0 ok, 1 bad input or data, 2 usage."""

from __future__ import annotations

import sys
from typing import Any

import typer

from .. import versions
from .._alloc import keep_freed_memory
from . import common
from .classify_cmd import classify_app
from .common import EXIT_USAGE, report_error
from .convert_cmd import convert
from .correct_cmd import correct
from .count_cmd import count_app
from .embed_cmd import embed
from .embeddings_cmd import embeddings_app
from .inspect_cmd import inspect
from .qc_cmd import qc
from .run_cmd import run
from .serve_cmd import serve
from .solve_cmd import solve_app
from .tokenize_cmd import tokenize, tokenizer_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="seqray: sequencing reads to model-ready arrays, on Ray.\n\n"
    "Exit codes: 0 ok, 1 bad input or data, 2 usage.",
)
app.command()(inspect)
app.command()(convert)
app.command()(correct)
app.command()(run)
app.command()(qc)
app.command()(tokenize)
app.command()(embed)
app.command()(serve)
app.add_typer(tokenizer_app, name="tokenizer")
app.add_typer(count_app, name="count")
app.add_typer(embeddings_app, name="embeddings")
app.add_typer(classify_app, name="classify")
app.add_typer(solve_app, name="solve")


def _version(value: bool) -> None:
    # seqray's version, then Python's, Ray's, pyarrow's and numba's: what a bug report needs
    if value:
        for name, version in versions().items():
            print(f"{name} {version}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the versions of seqray, Python, Ray, pyarrow and numba, and exit.",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    common.ARGV[:] = args
    try:
        code = app(args=args, prog_name="seqray", standalone_mode=False)
        if isinstance(code, int):  # typer hands back an exit code (130 for Ctrl-C)
            return code
    except SystemExit as e:
        return int(e.code or 0)
    except BaseException as e:  # the single error boundary
        # typer may vendor its own click: recognise its exceptions by class name
        kinds = {c.__name__ for c in type(e).__mro__}
        if "Exit" in kinds:
            return int(getattr(e, "exit_code", 0))
        if "Abort" in kinds or isinstance(e, KeyboardInterrupt):
            return 130
        if "ClickException" in kinds:
            click_error: Any = e  # click's (or typer's vendored click's): show(), exit_code
            click_error.show()
            return EXIT_USAGE if "UsageError" in kinds else int(click_error.exit_code)
        return report_error(e, debug)
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
