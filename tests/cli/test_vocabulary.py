"""One CLI vocabulary: a shared option has one spelling and one meaning in every command.

The checks walk the typer app's click tree, so a command added later is held to them
without editing this file; `test_the_checks_catch_a_stray_spelling` shows they fail on a
command that strays."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import typer
from typer.main import get_command

from seqray.cli import options
from seqray.cli.main import app, main
from seqray.errors import SeqrayError

# concept (the parameter's name) → its spelling in every command
SHARED = {
    "output": {"-o", "--output"},
    "threads": {"-t", "--threads"},
    "k": {"-k", "--k"},
    "runner": {"--runner"},
    "address": {"--address"},
    "shared_output": {"--shared-output"},
    "overwrite": {"--overwrite"},
    "resume": {"--resume"},
    "quiet": {"--quiet"},
}
# `seqray solve` runs no Ray: its --executor (local or Slurm) is where the MPI job runs,
# the spelling (docs/solvers.md)
SOLVE = {"executor": {"--executor"}}
# `seqray qc` is fastp: these of its flags keep fastp's meanings (README, docs/qc.md)
EXCEPTIONS = {
    "solve pca": SOLVE,
    "solve knn": SOLVE,
    "solve spectral": SOLVE,
    "qc": {
        "threads": {"-w", "--thread", "--threads"},
        "out1": {"-o", "--out1"},
        "trim_tail1": {"-t", "--trim_tail1"},
        "json_report": {"-j", "--json"},
        "outdir": {"--outdir"},
    },
}
# other spellings of the shared concepts (compared without case, '_' as '-'): no command
# may take them, except where EXCEPTIONS gives one to qc or solve
OTHER_SPELLINGS = {
    "--num-cpus",
    "--cpus",
    "--ncpus",
    "--nthreads",
    "--n-threads",
    "--thread",
    "--jobs",
    "-j",
    "--workers",
    "--kmer-length",
    "--kmer-size",
    "--kmer",
    "--out",
    "--outdir",
    "--output-dir",
    "--out-dir",
    "--force",
    "--continue",
    "--silent",
    "--no-progress",
    "--executor",  # but where a job goes outside Ray (EXCEPTIONS: seqray solve)
    "--ray-address",
    "--cluster",
}
OTHER_NAMES = {"num_cpus", "cpus", "jobs", "nthreads", "kmer_length", "kmer_size", "force"}
# a command with any of these runs a pipeline, and takes every run option
PIPELINE_ONLY = {"runner", "address", "shared_output", "overwrite", "resume"}
# commands that take --address (a Ray cluster) but run a service, not a pipeline
SERVICES = {"serve"}
PIPELINE_COMMANDS = {"run", "qc", "count run", "correct", "tokenize"}
LONG_COMMANDS = PIPELINE_COMMANDS | {"inspect", "convert"}  # those that draw progress


def leaf_commands(typer_app: typer.Typer) -> dict[str, Any]:
    """Every command that runs (not a group), by its path: `count run`, `tokenizer export`."""
    found: dict[str, Any] = {}

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            found[" ".join(path)] = cmd
            return
        for name, sub in subs.items():
            walk(sub, [*path, name])

    walk(get_command(typer_app), [])
    return found


def spellings(param: Any) -> set[str]:
    return set(param.opts) | set(param.secondary_opts)


def choices(param: Any) -> tuple | None:
    """The values a parameter takes if it is a choice (typer's own types, or click's)."""
    described = getattr(param, "type_descriptor", None)
    if described is not None and described.is_choice:
        return tuple(described.choices)
    return getattr(getattr(param, "type", None), "choices", None)


def violations(typer_app: typer.Typer) -> list[str]:
    """What strays from the vocabulary, one line each (empty: none)."""
    found = []
    runner_values = get_args(options.Runner)
    for path, cmd in leaf_commands(typer_app).items():
        expected = {**SHARED, **EXCEPTIONS.get(path, {})}
        allowed = set().union(*EXCEPTIONS.get(path, {}).values())
        owner = {s: name for name, spelt in expected.items() for s in spelt}
        params = [p for p in cmd.params if p.param_type_name == "option" and p.name != "help"]
        for p in params:
            where = f"{path}: {'/'.join(sorted(spellings(p)))} ({p.name})"
            if p.name in expected and spellings(p) != expected[p.name]:
                found.append(f"{where}: spell it {'/'.join(sorted(expected[p.name]))}")
            for s in spellings(p):
                if s in owner and owner[s] != p.name:
                    found.append(f"{where}: {s} means {owner[s]} in every command")
                normal = s.lower().replace("_", "-")
                if normal in OTHER_SPELLINGS and s not in allowed:
                    found.append(f"{where}: {s} is another spelling of a shared option")
            if p.name in OTHER_NAMES:
                found.append(f"{where}: another name for a shared option")
            if p.name in SHARED and p.hidden:
                found.append(f"{where}: a shared option is not hidden")
            if p.name == "runner" and choices(p) != runner_values:
                found.append(f"{where}: --runner is a choice of {runner_values}")
        names = {p.name for p in params}
        pipeline_only = PIPELINE_ONLY - {"address"} if path in SERVICES else PIPELINE_ONLY
        if names & pipeline_only and not set(options.RUN_OPTIONS) <= names:
            missing = sorted(set(options.RUN_OPTIONS) - names)
            found.append(f"{path}: runs a pipeline but lacks {missing}")
    return found


def test_every_command_speaks_the_vocabulary():
    assert violations(app) == []


def test_the_checks_catch_a_stray_spelling():
    """A command with the old spellings (and a free-string runner) fails every check."""
    stray = typer.Typer()

    @stray.command()
    def first(
        num_cpus: int = typer.Option(None, "--num-cpus"),
        k: int = typer.Option(5, "--kmer-length"),
        runner: str = typer.Option("auto", "--runner"),
        resume: bool = options.RESUME,
    ) -> None:
        pass

    @stray.command()
    def second(jobs: int = typer.Option(1, "-j", "--threads")) -> None:
        pass

    found = "\n".join(violations(stray))
    assert "first: --num-cpus (num_cpus): --num-cpus is another spelling" in found
    assert "first: --num-cpus (num_cpus): another name for a shared option" in found
    assert "first: --kmer-length (k): spell it --k/-k" in found
    assert "first: --runner (runner): --runner is a choice of ('auto', 'local', 'ray')" in found
    assert "first: runs a pipeline but lacks ['address', 'overwrite', 'quiet'," in found
    assert "second: --threads/-j (jobs): --threads means threads in every command" in found
    assert "second: --threads/-j (jobs): -j is another spelling" in found


def test_the_walk_finds_the_commands():
    # a check over no commands, or over commands without the options, would pass vacuously
    commands = leaf_commands(app)
    assert set(commands) >= LONG_COMMANDS | {"count query", "tokenizer export"}
    for path in PIPELINE_COMMANDS:
        names = {p.name for p in commands[path].params}
        assert set(options.RUN_OPTIONS) <= names, path
    for path in LONG_COMMANDS:
        assert "quiet" in {p.name for p in commands[path].params}, path
    for path in ("count run", "correct", "tokenize", "tokenizer export"):
        assert "k" in {p.name for p in commands[path].params}, path


def test_runner_choices_are_the_configs():
    from seqray.pipeline.config import RunSettings

    assert get_args(options.Runner) == get_args(RunSettings.model_fields["runner"].annotation)


# -- one meaning: each shared option lands in the same place of every command's config ----


@pytest.fixture
def captured(monkeypatch):
    """The config and flags each command hands to run_pipeline (which then stops it)."""
    import seqray.pipeline.driver as driver

    seen: list[tuple[Any, dict]] = []

    def capture(config, **kwargs):
        seen.append((config, kwargs))
        raise SeqrayError("captured")

    monkeypatch.setattr(driver, "run_pipeline", capture)
    return seen


def _commands(tmp_path) -> dict[str, list[str]]:
    reads = tmp_path / "r.fq"
    reads.write_text("@a\nACGTACGTACGT\n+\nIIIIIIIIIIII\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"output: {tmp_path / 'yaml_out'}\nrun: {{runner: local}}\n"
        f"stages:\n- read: {{paths: [{reads}]}}\n- write: {{format: fastq}}\n"
    )
    out = str(tmp_path / "o")
    return {
        "run": ["run", str(cfg), "-o", out],
        "count run": ["count", "-k", "11", str(reads), "-o", out],
        "correct": ["correct", "-k", "11", str(reads), "-o", out],
        "tokenize": ["tokenize", str(reads), "-k", "4", "-o", out],
        "qc": ["qc", "-i", str(reads), "--outdir", out],
    }


def test_run_options_mean_the_same_in_every_pipeline_command(tmp_path, captured, capsys):
    commands = _commands(tmp_path)
    assert set(commands) == PIPELINE_COMMANDS
    for path, args in commands.items():
        threads = "--threads" if path == "qc" else "-t"
        flags = [threads, "3", "--address", "ray://head:10001", "--shared-output", "--overwrite"]
        assert main([*args, *flags]) == 1, path
        config, kwargs = captured.pop()
        run = config.run
        assert (run.num_cpus, run.address, run.shared_output) == (3, "ray://head:10001", True)
        assert run.runner == "ray", path  # an address means Ray
        assert kwargs["overwrite"] and not kwargs["resume"], path
        assert main([*args, "--runner", "local", "--resume"]) == 1, path
        config, kwargs = captured.pop()
        assert config.run.runner == "local" and config.run.num_cpus is None, path
        assert kwargs["resume"] and not kwargs["overwrite"], path
        if path != "qc":  # qc's -o is fastp's read 1 output
            assert config.output == str(tmp_path / "o"), path
    capsys.readouterr()


def test_k_means_the_stage_k(tmp_path, captured):
    commands = _commands(tmp_path)
    for path, stage, k in (("count run", "count", 11), ("correct", "correct", 11)):
        assert main(commands[path]) == 1
        config, _ = captured.pop()
        assert config.stages[config.stage_names().index(stage)].k == k, path
    assert main(commands["tokenize"]) == 1
    config, _ = captured.pop()
    assert config.stages[1].k == 4
