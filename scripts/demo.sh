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
# a vector per clean read pair with the model the pipeline trained, and a word2vec export
.venv/bin/seqray embed out/demo/reads_R1.fastq.gz --mate out/demo/reads_R2.fastq.gz \
  --model out/demo/embedding_model -o out/demo-vectors --overwrite --runner ray
rm -f out/demo-embeddings.txt  # this script's own file from a previous run
.venv/bin/seqray embeddings export out/demo/embedding_model --word2vec out/demo-embeddings.txt
echo "demo output: out/demo (manifest.json lists every file), out/demo-vectors, out/demo-embeddings.txt"
