#!/usr/bin/env bash
# Reads from six real genomes → qc → LSH embeddings → a Slurm job running MPI spectral
# clustering on 2 ranks → the adjusted Rand index against the true genome of each read.
# Sets up what it needs first (MPI, Slurm, seqray[hpc]; as root on Debian), then runs
# examples/cluster_genomes.py with the arguments given (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh hpc
exec .venv/bin/python examples/cluster_genomes.py "$@"
