#!/usr/bin/env bash
# Regenerate the bundled example data in examples/data/ from Debian packages.
#
# Usage:
#   examples/make_examples.sh            # (re)write examples/data/*
#   examples/make_examples.sh OUTDIR     # write the files into OUTDIR instead
#   examples/make_examples.sh --check    # regenerate into a temp dir and compare
#                                        # byte-for-byte with examples/data/SHA256SUMS
#
# Needs: apt-get (Debian 12 "bookworm" package lists), python3, gzip, sha256sum,
# and art_illumina (Debian package art-nextgen-simulation-tools; installed with
# apt-get if missing and we are root).  Packages are fetched with
# `apt-get download` and unpacked with `dpkg -x`; nothing else is installed.
#
# Output is byte-stable: ART is run with a fixed seed (-rs 42) and every .gz is
# written with `gzip -n -9` (no name/timestamp in the gzip header).
# See examples/README.md for provenance and licences of every file.
set -euo pipefail

# ---- pinned inputs (Debian 12 bookworm versions the committed files were made from)
BBMAP_VER="39.01+dfsg-2"          # phix174.fa  (bbmap.jar:phix174_ill.ref.fa.gz)
SEQPREP_DATA_VER="1.3.2-8"        # real_R1/real_R2 (real HiSeq pairs, Phred+64)
GASIC_EXAMPLES_VER="0.0.r19-8"    # real_interleaved (SRA SRR059298, Phred+33)
ART_EXPECTED="2.5.8"              # art_illumina "Q Version 2.5.8" = Debian 20160605+dfsg-4+b3
# PIN_VERSIONS=0 downloads whatever version apt currently offers instead.
PIN_VERSIONS="${PIN_VERSIONS:-1}"

N_PAIRS=2000        # simulated phiX pairs
N_REAL=1000         # records taken from each real-read file

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data_dir="$here/data"

check=0
out="$data_dir"
if [[ "${1:-}" == "--check" ]]; then
    check=1
elif [[ -n "${1:-}" ]]; then
    out="$1"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/seqray-examples.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if (( check )); then
    out="$work/out"
fi
mkdir -p "$out"

log() { printf '[make_examples] %s\n' "$*" >&2; }

# ---- tools
if ! command -v art_illumina >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
        log "installing art-nextgen-simulation-tools"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq art-nextgen-simulation-tools >/dev/null
    else
        log "art_illumina not found: sudo apt-get install art-nextgen-simulation-tools"
        exit 1
    fi
fi
art_ver="$(art_illumina 2>&1 | sed -n 's/.*Q Version \([0-9.]*\).*/\1/p' | head -n1 || true)"
if [[ "$art_ver" != "$ART_EXPECTED" ]]; then
    log "WARNING: art_illumina version '$art_ver' != '$ART_EXPECTED'; simulated reads may differ"
fi

# ---- fetch the Debian packages (no installation)
fetch() {  # fetch PKG VERSION -> unpacks into $work/PKG
    local pkg="$1" ver="$2" spec="$1"
    [[ "$PIN_VERSIONS" == 1 ]] && spec="$pkg=$ver"
    mkdir -p "$work/deb"
    if ! (cd "$work/deb" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null); then
        if [[ "$(id -u)" == 0 ]]; then
            apt-get update -qq
            (cd "$work/deb" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null)
        else
            log "apt-get download $spec failed (run apt-get update, or PIN_VERSIONS=0)"
            return 1
        fi
    fi
    dpkg -x "$work/deb/${pkg}_"*.deb "$work/$pkg"
}

log "downloading bbmap, seqprep-data, gasic-examples"
fetch bbmap "$BBMAP_VER"
fetch seqprep-data "$SEQPREP_DATA_VER"
fetch gasic-examples "$GASIC_EXAMPLES_VER"

# gzip -n so the output does not depend on file names or timestamps
gz() { gzip -n -9 -c "$1" > "$2.tmp" && mv "$2.tmp" "$2"; }

# ---- 1. phiX174 reference (NC_001422.1, 5386 bp) from inside bbmap.jar
log "phix174.fa"
python3 - "$work/bbmap/usr/share/java/bbmap.jar" "$work/phix174.fa.gz" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as f:
    f.write(z.read("phix174_ill.ref.fa.gz"))
EOF
gzip -dc "$work/phix174.fa.gz" > "$out/phix174.fa"

# ---- 2. simulated 2x150 HiSeq 2500 pairs (ART, fixed seed)
log "phix_R1/R2.fastq.gz (art_illumina, $N_PAIRS pairs)"
art_illumina -ss HS25 -i "$out/phix174.fa" -p -l 150 -c "$N_PAIRS" -m 300 -s 10 \
    -rs 42 -na -o "$work/phix_" > "$work/art.log" 2>&1 \
    || { cat "$work/art.log" >&2; exit 1; }
gz "$work/phix_1.fq" "$out/phix_R1.fastq.gz"
gz "$work/phix_2.fq" "$out/phix_R2.fastq.gz"

# ---- 3. real reads: first N records of real data sets
# (decompress to a file first: `zcat | head` would die of SIGPIPE under pipefail)
nlines=$(( N_REAL * 4 ))
sp="$work/seqprep-data/usr/share/doc/seqprep/examples/data"
for r in 1 2; do
    log "real_R$r.fastq.gz (seqprep-data)"
    gzip -dc "$sp/multiplex_bad_contam_$r.fq.gz" > "$work/sp_$r.fq"
    head -n "$nlines" "$work/sp_$r.fq" > "$work/real_R$r.fastq"
    gz "$work/real_R$r.fastq" "$out/real_R$r.fastq.gz"
done

log "real_interleaved.fastq.gz (gasic-examples)"
gzip -dc "$work/gasic-examples/usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz" \
    > "$work/srr.fq"
head -n "$nlines" "$work/srr.fq" > "$work/real_interleaved.fastq"
gz "$work/real_interleaved.fastq" "$out/real_interleaved.fastq.gz"

files=(phix174.fa phix_R1.fastq.gz phix_R2.fastq.gz real_R1.fastq.gz real_R2.fastq.gz
       real_interleaved.fastq.gz)

if (( check )); then
    log "comparing with $data_dir/SHA256SUMS"
    (cd "$out" && sha256sum -c "$data_dir/SHA256SUMS")
    log "OK: regenerated files are byte-identical to the committed ones"
else
    (cd "$out" && sha256sum "${files[@]}" > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
    (cd "$out" && ls -l "${files[@]}" SHA256SUMS) >&2
    log "done -> $out"
fi
