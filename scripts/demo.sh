#!/usr/bin/env bash
# The README's first command: set up, then run the demo pipeline on the bundled example
# data (local Ray cluster, local files) and inspect the inputs and the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
export RAY_ADDRESS=""  # the embedded default: a local Ray cluster
.venv/bin/seqray inspect examples/data/*.fastq.gz
.venv/bin/seqray run examples/demo.yaml --overwrite --runner ray
.venv/bin/seqray inspect out/demo/reads_R1.fastq.gz out/demo/reads_R2.fastq.gz
echo "demo output: out/demo (manifest.json lists every file)"
