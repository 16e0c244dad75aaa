#!/usr/bin/env bash
# Build the benchmark inputs under bench/data/ (git-ignored):
#
#   bench/data/ecoli_mg1655.fa        reference: E. coli K-12 MG1655 (4,639,675 bp), from the
#                                     Debian package ragout-examples (2.3-4),
#                                     usr/share/doc/ragout/examples/E.Coli/references/MG1655-K12.fasta.gz
#   bench/data/ecoli_150.fastq        >= 1 GiB plain FASTQ: art_illumina single-end 150 bp,
#                                     HiSeq 2500 profile (HS25), 110x coverage (~3.4 M reads), seed 42
#   bench/data/ecoli_150.fastq.gz     the same, gzip -n -6 (one gzip member)
#   bench/data/ecoli_1M.fastq.gz      first 1,000,000 reads (4,000,000 lines) of ecoli_150.fastq, gzip -n -6
#
# Usage: bench/make_data.sh [DATA_DIR]      (default: bench/data next to this script)
# Outputs that already exist are kept (delete them to rebuild).  Files are written
# under a temporary name and renamed when complete, so an existing file is a whole one.
# Installs art-nextgen-simulation-tools with apt-get if art_illumina is missing (needs root).
# Takes about 4 minutes on 2 cores (ART ~45 s, gzip ~3 min) and ~1.6 GB of disk.
#
# Deterministic (ART fixed seed, gzip -n).  With art_illumina 2.5.8 (Debian 20160605+dfsg-4+b3)
# and gzip 1.12 the outputs were (3,402,410 reads; 1,104,672,146 / 332,626,102 / 97,774,050 bytes):
#   485b1572d1c0ac3c0ee944ee33d3101babb726a28b9f10c686767dee1b2ef4d9  ecoli_150.fastq
#   df9e75e02d0da19e0a7e8d077016736f135976b2bfc28930f45743f50f8f2e26  ecoli_150.fastq.gz
#   77e11025ae6259a7c1c77b6efc1f099d6afd27f2d8a0f2bedee9944c82a7b2b7  ecoli_1M.fastq.gz
#   3d70cf9dee928a6bf8f4763a3db0e0f8bf0ae32d25123a73f7a5bf2fe4d16828  ecoli_mg1655.fa
set -euo pipefail

RAGOUT_EXAMPLES_VER="2.3-4"   # Debian 12 bookworm; PIN_VERSIONS=0 takes the current candidate
PIN_VERSIONS="${PIN_VERSIONS:-1}"
FOLD=110                      # 110x * 4,639,675 bp / 150 bp -> 3,402,410 reads, 1.10e9 bytes
READ_LEN=150
SEED=42
MIN_BYTES=$(( 1024 * 1024 * 1024 ))   # the plain FASTQ must be at least 1 GiB
SUBSET_READS=1000000

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${1:-$here/data}"
mkdir -p "$data"

ref="$data/ecoli_mg1655.fa"
fq="$data/ecoli_150.fastq"
fqgz="$data/ecoli_150.fastq.gz"
sub="$data/ecoli_1M.fastq.gz"

log() { printf '[make_data %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
t0=$SECONDS

if [[ -s "$fq" && -s "$fqgz" && -s "$sub" ]]; then
    log "all outputs already exist in $data; nothing to do"
    ls -l "$fq" "$fqgz" "$sub" >&2
    exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/seqray-bench.XXXXXX")"
art_prefix="$data/.ecoli_150.art_tmp_"   # ART writes ${art_prefix}.fq next to the outputs (not in /tmp)
trap 'rm -rf "$work" "${art_prefix}.fq" "$ref.tmp" "$fqgz.tmp" "$sub.tmp"' EXIT

# ---- tools
if ! command -v art_illumina >/dev/null 2>&1; then
    log "installing art-nextgen-simulation-tools"
    if [[ "$(id -u)" != 0 ]]; then
        log "art_illumina not found and not root: sudo apt-get install -y art-nextgen-simulation-tools"
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq art-nextgen-simulation-tools >/dev/null
fi

# ---- reference genome
if [[ ! -s "$ref" ]]; then
    spec="ragout-examples"
    [[ "$PIN_VERSIONS" == 1 ]] && spec="ragout-examples=$RAGOUT_EXAMPLES_VER"
    log "downloading $spec"
    mkdir -p "$work/deb"
    if ! (cd "$work/deb" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null); then
        [[ "$(id -u)" == 0 ]] || { log "apt-get download failed (apt-get update? PIN_VERSIONS=0?)"; exit 1; }
        apt-get update -qq
        (cd "$work/deb" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null)
    fi
    dpkg -x "$work/deb/"ragout-examples_*.deb "$work/ragout"
    gzip -dc "$work/ragout/usr/share/doc/ragout/examples/E.Coli/references/MG1655-K12.fasta.gz" \
        > "$ref.tmp"
    mv "$ref.tmp" "$ref"
fi

# ---- simulated reads (plain FASTQ)
if [[ ! -s "$fq" ]]; then
    log "art_illumina -ss HS25 -l $READ_LEN -f $FOLD -rs $SEED (single-end)"
    art_illumina -ss HS25 -i "$ref" -l "$READ_LEN" -f "$FOLD" -rs "$SEED" -na \
        -o "$art_prefix" > "$work/art.log" 2>&1 || { cat "$work/art.log" >&2; exit 1; }
    size=$(stat -c %s "${art_prefix}.fq")
    if (( size < MIN_BYTES )); then
        log "ERROR: simulated FASTQ is only $size bytes (< $MIN_BYTES); raise FOLD"
        exit 1
    fi
    mv "${art_prefix}.fq" "$fq"
    log "simulated $(( $(wc -l < "$fq") / 4 )) reads, $size bytes"
fi

# ---- gzip outputs (both in parallel)
pids=()
if [[ ! -s "$fqgz" ]]; then
    log "gzip -> $(basename "$fqgz")"
    ( gzip -n -6 -c "$fq" > "$fqgz.tmp" && mv "$fqgz.tmp" "$fqgz" ) &
    pids+=($!)
fi
if [[ ! -s "$sub" ]]; then
    log "first $SUBSET_READS reads -> $(basename "$sub")"
    ( head -n $(( SUBSET_READS * 4 )) "$fq" | gzip -n -6 -c > "$sub.tmp" && mv "$sub.tmp" "$sub" ) &
    pids+=($!)
fi
for p in "${pids[@]}"; do
    wait "$p"
done

log "done in $(( SECONDS - t0 )) s"
ls -l "$ref" "$fq" "$fqgz" "$sub" >&2
