#!/usr/bin/env bash
# The README's second command: set up (Debian + pip packages) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# SEQRAY_REQUIRE_PEERS=1 (CI sets it in .ci/run): a missing peer tool or Debian test data set
# fails its test instead of skipping it (tests/peers.py)
export SEQRAY_REQUIRE_PEERS="${SEQRAY_REQUIRE_PEERS:-0}"
echo "test: SEQRAY_REQUIRE_PEERS=$SEQRAY_REQUIRE_PEERS" >&2
# the same checks as .pre-commit-config.yaml: lint, formatting, types (pyproject.toml [tool.mypy])
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
# the slowest tests are listed at the end, to keep the suite within its time (CONTRIBUTING.md)
.venv/bin/python -m pytest -q --durations=30 "$@"
