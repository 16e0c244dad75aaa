#!/usr/bin/env bash
# Installs what seqray needs on a fresh Debian machine (run as root): Debian packages for
# the tests' peer tools, and a virtual environment .venv with seqray and its extras.
# Usage: scripts/setup.sh [demo|test]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"

debs=()
if [ "$what" = "test" ]; then
  # the peers the parity tests compare against, the read simulator, and the browser
  # that renders the HTML report
  debs+=(seqkit fastp jellyfish kmc lighter art-nextgen-simulation-tools chromium)
fi
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install Debian packages: ${missing[*]}" >&2
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian's own python3 needs python3-venv for `-m venv`
    rm -rf .venv
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$what" = "test" ]; then
  .venv/bin/python -m pip install -q -e ".[test,hf]"
else
  .venv/bin/python -m pip install -q -e .
fi
