#!/usr/bin/env bash
# Reference genomes for bench/correct_accuracy.py's matrix, under bench/data/genomes/
# (git-ignored), from Debian example-data packages (fetched with apt-get download, unpacked
# with dpkg-deb -x; nothing is installed):
#
#   name            organism                        from (Debian package, file)
#   saureus_n315    Staphylococcus aureus N315      ragout-examples  S.Aureus/references/N315.fasta.gz
#   hpylori_g27     Helicobacter pylori G27         ragout-examples  H.Pylori/references/G27.fasta.gz
#   vcholerae_o395  Vibrio cholerae O395 (2 chr.)   ragout-examples  V.Cholerae/references/O395.fasta.gz
#   ecoli_mg1655    Escherichia coli K-12 MG1655    ragout-examples  E.Coli/references/MG1655-K12.fasta.gz
#   kpneu_kp1084    Klebsiella pneumoniae Kp1084    kleborate-examples  data/Klebs_Kp1084.fna.xz
#
# GC from 33 % to 57 %, 1.6 to 5.4 Mb; the repeat structure differs too (correct_accuracy.py
# reports each genome's share of 31-mers that occur more than once).
#
# Usage: bench/genomes.sh [DATA_DIR]      (default: bench/data next to this script)
# Prints one line per genome: path, contigs, bases, GC %. Existing files are kept (a file is
# written under a temporary name and renamed when whole). The package versions are pinned
# (Debian 12 bookworm); PIN_VERSIONS=0 takes the current candidates. The SHA-256 of each
# FASTA is checked against the pinned packages' (a mismatch stops the script).
set -euo pipefail

PIN_VERSIONS="${PIN_VERSIONS:-1}"
declare -A VERSION=([ragout-examples]=2.3-4 [kleborate-examples]=2.3.1-2)
RAGOUT=usr/share/doc/ragout/examples
KLEB=usr/share/doc/kleborate/examples/data
# name  package  path-in-package  sha256 of the unpacked FASTA
GENOMES=(
  "saureus_n315 ragout-examples $RAGOUT/S.Aureus/references/N315.fasta.gz fd70c9296e0fd6d78831a5ab21afcbc2e432816780869cbde4653df8c9da0fcc"
  "hpylori_g27 ragout-examples $RAGOUT/H.Pylori/references/G27.fasta.gz 1c05a57d60701da8fa8a9e7f2af406d4bbf0c188f8082aa982ec2e4f3494f689"
  "vcholerae_o395 ragout-examples $RAGOUT/V.Cholerae/references/O395.fasta.gz 20bee4e367a0c493318a18509ab0dcd0a05e98387f012971b444bb2f17ca1308"
  "ecoli_mg1655 ragout-examples $RAGOUT/E.Coli/references/MG1655-K12.fasta.gz 3d70cf9dee928a6bf8f4763a3db0e0f8bf0ae32d25123a73f7a5bf2fe4d16828"
  "kpneu_kp1084 kleborate-examples $KLEB/Klebs_Kp1084.fna.xz dcd045a62cbfd8a801059878864c1fa0476a42e8c7ce44c4c5e5f46b58acbf03"
)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/data}/genomes"
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/seqray-genomes.XXXXXX")"
trap 'rm -rf "$work"; rm -f "$out"/.*.tmp' EXIT
log() { printf '[genomes] %s\n' "$*" >&2; }

unpacked() {  # PACKAGE -> directory where its .deb is unpacked (downloaded once)
    local pkg=$1 spec=$1
    [[ "$PIN_VERSIONS" == 1 ]] && spec="$pkg=${VERSION[$pkg]}"
    if [[ ! -d "$work/$pkg" ]]; then
        log "apt-get download $spec"
        if ! (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null); then
            [[ "$(id -u)" == 0 ]] || { log "apt-get download $spec failed (apt-get update?)"; exit 1; }
            apt-get update -qq
            (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$spec" >/dev/null)
        fi
        dpkg-deb -x "$work/${pkg}"_*.deb "$work/$pkg"
    fi
    echo "$work/$pkg"
}

for row in "${GENOMES[@]}"; do
    read -r name pkg path sha <<< "$row"
    fa="$out/$name.fa"
    if [[ ! -s "$fa" ]]; then
        src="$(unpacked "$pkg")/$path"
        case "$src" in
            *.gz) gzip -dc "$src" > "$out/.$name.tmp" ;;
            *.xz) xz -dc "$src" > "$out/.$name.tmp" ;;
        esac
        mv "$out/.$name.tmp" "$fa"
    fi
    got="$(sha256sum "$fa" | cut -d' ' -f1)"
    if [[ "$PIN_VERSIONS" == 1 && "$got" != "$sha" ]]; then
        log "ERROR: $fa has SHA-256 $got, expected $sha (delete it to fetch again)"
        exit 1
    fi
    awk -v f="$fa" '/^>/ {n++; next} {s += length($0); g += gsub(/[GCgc]/, "")}
        END {printf "%s\t%d contig(s)\t%d bp\tGC %.1f %%\n", f, n, s, 100 * g / s}' "$fa"
done
