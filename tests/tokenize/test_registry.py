"""The scheme registry: every scheme is found there (by the config, the CLI and the export
loader), a new scheme needs nothing else, and the tokenize modules import no cycle."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

import seqray.tokenize
from seqray.cli.main import main
from seqray.errors import ConfigError
from seqray.pipeline.config import parse_config
from seqray.tokenize import registry
from seqray.tokenize.base import Tokenizer
from seqray.tokenize.hf_export import load_tokenizer
from seqray.tokenize.registry import make_tokenizer, register, scheme_class, scheme_names
from seqray.tokenize.schemes import CharTokenizer
from seqray.tokenize.stage import TokenizeConfig

from ..conftest import assert_user_error, flat

SCHEMES = ("bpe", "char", "hashed", "kmer", "nt6", "protein")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(package_dir: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of `package` it imports when run: imports at any depth
    (functions included), not those under `if TYPE_CHECKING:` (typing only)."""
    modules = {p.stem: p for p in package_dir.glob("*.py")}
    inside = {package} | {f"{package}.{s}" for s in modules if s != "__init__"}
    graph: dict[str, set[str]] = {}
    for stem, path in modules.items():
        name = package if stem == "__init__" else f"{package}.{stem}"
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and _is_type_checking(node.test)
            for stmt in node.body
            for n in ast.walk(stmt)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
                full = ".".join(p for p in (base, node.module or "") if p)
                for a in node.names:  # `from . import kernels`: the submodule
                    sub = f"{full}.{a.name}"
                    targets.add(sub if sub in inside else full)
        graph[name] = (targets & inside) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph (its modules in order, the first repeated), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_tokenize_modules_import_no_cycle():
    pkg = Path(seqray.tokenize.__file__).parent
    graph = runtime_imports(pkg, "seqray.tokenize")
    assert len(graph) >= 10 and "seqray.tokenize.registry" in graph
    assert find_cycle(graph) is None, find_cycle(graph)
    # the registry is a leaf: a scheme module imports it, never the other way round
    assert graph["seqray.tokenize.registry"] == set()
    assert "seqray.tokenize.registry" in graph["seqray.tokenize.bpe"]


def test_the_cycle_check_sees_imports_in_functions_not_typing_ones(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import g\n")
    (pkg / "b.py").write_text("def g():\n    from . import a\n    return a\n")
    assert find_cycle(runtime_imports(pkg, "pkg")) == ["pkg.a", "pkg.b", "pkg.a"]
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"
    )
    assert find_cycle(runtime_imports(pkg, "pkg")) is None


def test_every_scheme_is_registered_under_its_name():
    assert scheme_names() == SCHEMES
    for name in SCHEMES:
        cls = scheme_class(name)
        assert issubclass(cls, Tokenizer) and cls.scheme == name
    assert [n for n in SCHEMES if scheme_class(n).trains] == ["bpe"]
    with pytest.raises(ConfigError, match="unknown scheme 'dna9'; one of bpe, char, hashed"):
        make_tokenizer("dna9")


def test_a_scheme_registers_once(monkeypatch):
    monkeypatch.setattr(registry, "_SCHEMES", dict(registry._SCHEMES))
    assert register(CharTokenizer) is CharTokenizer  # the same class again: no change

    class Other(CharTokenizer):
        scheme = "char"

    with pytest.raises(ValueError, match="'char' registered twice"):
        register(Other)


def test_a_new_scheme_needs_only_its_registration(monkeypatch, tmp_path):
    """The config, make_tokenizer and the export loader take a scheme registered later."""
    monkeypatch.setattr(registry, "_SCHEMES", dict(registry._SCHEMES))

    @register
    class RnaChar(CharTokenizer):
        """HyenaDNA characters of RNA reads: U is T (a test's own scheme)."""

        scheme = "rna-char"

        def __init__(self, **rows):
            super().__init__(**rows)
            self._lut = self._lut.copy()
            self._lut[ord("U")] = self.vocab.id("T")

    cfg = parse_config(
        {
            "output": str(tmp_path / "o"),
            "stages": [
                {"read": {"paths": ["r.fq"]}},
                {"tokenize": {"scheme": "rna-char", "max_length": 4}},
                {"write": {"format": "parquet"}},
            ],
        }
    )
    tok = cfg.stages[1].build()
    # HyenaDNA's ids: [SEP] 1, A 7, C 8, G 9, T 10; a row ends with [SEP]
    assert tok.encode("ACGUT") == [7, 8, 9, 10, 10, 1]
    rows = tok.encode_batch(["ACGUT"]).column("input_ids").to_pylist()
    assert rows == [[7, 8, 9, 1], [10, 10, 1]]  # windows of max_length 4
    tok.export(str(tmp_path / "hf"))
    saved = json.loads((tmp_path / "hf" / "seqray_tokenizer.json").read_text())
    assert saved["scheme"] == "rna-char"
    assert type(load_tokenizer(str(tmp_path / "hf"))) is RnaChar
    with pytest.raises(Exception, match="one of bpe, char, hashed, kmer, nt6, protein, rna-char"):
        TokenizeConfig(scheme="dna9")


@pytest.mark.parametrize(
    "config, key, message",
    [
        ({"scheme": "hashed", "k": 12, "buckets": 2**31}, "buckets", "buckets must be between"),
        ({"scheme": "kmer", "k": 12}, "k", "kmer needs 1 <= k <= 8"),
        ({"scheme": "hashed", "k": 21}, None, "k = 21 codes do not fit int32 ids"),  # the pair
    ],
)
def test_config_checks_each_key_with_its_scheme(config, key, message):
    with pytest.raises(ValidationError) as info:
        TokenizeConfig(**config)
    (err,) = info.value.errors()
    assert err["loc"] == ((key,) if key else ()) and message in err["msg"]


def test_a_key_of_another_scheme_is_not_checked():
    assert TokenizeConfig(scheme="hashed", k=12).build().settings()["k"] == 12
    assert TokenizeConfig(scheme="kmer", buckets=2**31).build().settings() == {"k": 6, "stride": 1}


def test_cli_scheme_is_a_choice_of_the_registry(tmp_path, capsys):
    from seqray.cli import tokenize_cmd

    assert get_args(tokenize_cmd.SchemeName) == SCHEMES
    assert main(["tokenizer", "export", str(tmp_path / "e"), "--scheme", "dna9"]) == 2
    err = flat(capsys.readouterr().err)
    assert_user_error(err, "--scheme", "dna9", *(f"'{s}'" for s in SCHEMES))
    assert not (tmp_path / "e").exists()
