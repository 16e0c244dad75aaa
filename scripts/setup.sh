#!/usr/bin/env bash
# Installs what seqray needs on a fresh Debian machine (run as root): Debian packages for
# the tests' peer tools, and a virtual environment .venv with seqray and its extras.
# Fails (exit 1, saying what is missing) when it cannot install what is needed, e.g. test
# packages missing and not root.
# Usage: scripts/setup.sh [demo|hpc|test|bench]
#   hpc: MPI + Slurm for examples/cluster_genomes.sh; bench: test's, and the peers that only
#   bench/ runs (BBTools' tadpole.sh and SGA, for bench/correct_accuracy.py)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"

die() {
  echo "setup: $*" >&2
  exit 1
}

debs=()
tools=()
if [ "$what" = "test" ] || [ "$what" = "bench" ]; then
  # the peers the parity tests compare against, the read simulator, samtools (SAM/BAM/CRAM
  # checks), the browser that renders the HTML report, and GNU time (bench/ measures
  # peak memory with it); tests/peers.py names the peers
  debs+=(seqkit fastp jellyfish kmc lighter art-nextgen-simulation-tools samtools chromium time openmpi-bin libopenmpi-dev)
  tools+=(seqkit fastp jellyfish kmc kmc_tools lighter art_illumina samtools chromium mpirun)
  # a real one-node Slurm for tests/hpc (its fixture starts munged, slurmctld and slurmd)
  debs+=(slurm-wlm munge)
  tools+=(sbatch slurmctld slurmd munged)
  # GROMACS for tests/hpc/test_gromacs.py (grompp + mdrun through both executors)
  debs+=(gromacs)
  tools+=(gmx)
fi
if [ "$what" = "bench" ]; then
  # bench/correct_accuracy.py's other correctors (Debian's bbmap keeps tadpole.sh in
  # /usr/share/bbmap, off PATH; the script finds it there)
  debs+=(bbmap sga)
  tools+=(sga /usr/share/bbmap/tadpole.sh)
fi
if [ "$what" = "hpc" ]; then
  debs+=(openmpi-bin libopenmpi-dev slurm-wlm munge)
  tools+=(mpirun sbatch slurmctld slurmd munged)
fi
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # the tests need every one of them: without them, parity tests would only be skipped
  if [ "$(id -u)" != 0 ]; then
    die "Debian packages missing: ${missing[*]}; run as root, or install them first" \
      "(apt-get install ${missing[*]})"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get could not install: ${missing[*]}"
fi
for t in "${tools[@]}"; do
  command -v "$t" >/dev/null || die "$t is not on PATH after installing its Debian package"
done

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian's own python3 needs python3-venv for `-m venv`
    rm -rf .venv
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    "$PY" -m venv .venv || die "cannot create .venv with $PY (Debian: install python3-venv as root)"
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$what" = "test" ] || [ "$what" = "bench" ]; then
  # torch first, pinned: 2.13.0 is the CPU build that lies on this machine image's disk;
  # an unpinned `torch` would pull a CUDA build of several GB
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[test,hf,formats,serve,hpc]"
elif [ "$what" = "hpc" ]; then
  .venv/bin/python -m pip install -q -e ".[hpc]"
else
  .venv/bin/python -m pip install -q -e .
fi
