"""Builds the labelled read sets of the embedding benchmarks (issue 13) under bench/data/embed/.

    python bench/embed_data.py [--out bench/data/embed] [--train 20000] [--test 5000]
                               [--rates illumina,0.10,0.15] [--genus-classes 20] [--seed 13]

Everything comes from pinned Debian packages (`apt-get download PKG=VER`, unpacked with
`dpkg -x`; nothing is installed) and is deterministic for a given seed:

- **distinct**: six bacterial chromosomes of six genera: E. coli K-12 MG1655, H. pylori G27,
  S. aureus N315 and V. cholerae O1 N16961 (both chromosomes, one label) from
  `ragout-examples`; Streptococcus suis SC84 from `abacas-examples`; Roseobacter
  denitrificans OCh 114 from `cct-examples` (GenBank, its ORIGIN section).
- **close**: two strains of one species, S. aureus N315 (CC5) vs USA300_FPR3757 (CC8).
- **16s**: genus of 16S rRNA fragments, from `r-bioc-dada2`'s ten_16s.100.fa.gz (ten 16S
  sequences for each of ~400 genera, taxonomy in the header `...;g:GENUS;`). `--genus-classes`
  genera are drawn with the seed; per genus 7 sequences give the training reads and the other
  3 the held-out reads, so a held-out read never comes from a sequence seen in training
  (windows of one 1.5 kb sequence overlap, which would leak).

Reads, single-end, 150 bp, at each error rate of `--rates`:

- `illumina`: art_illumina, HiSeq 2500 profile (HS25), `-c` reads per record in proportion to
  its length, then exactly N drawn with the seed (ART's own error model, ~0.1-0.5 % mostly
  substitutions, rare indels).
- a number e (0.10, 0.15, or 0 for error-free): our injector. A 150 bp fragment at a uniform
  position and strand of a record (records weighted by length), then at every base
  independently with probability e an error: 60 % substitution (one of the 3 other bases,
  uniform), 20 % insertion (a uniform random base inserted before the base), 20 % deletion.
  Reads are therefore 150 ± a few bases long. Quality is the constant Phred -10 log10(e)
  (Q40 for e = 0). Vectorised NumPy, `numpy.random.default_rng(seed)`.

Train and held-out reads are independent draws (different seeds) from the same genomes
(16s: from disjoint sequences). Layout:

    OUT/genomes/LABEL.fa                      normalised sources (upper case, ACGTN)
    OUT/DATASET/RATE/{train,test}.fastq       reads DATASET_RATE_SPLIT_NNNNNNN, labels mixed
    OUT/DATASET/RATE/{train,test}.labels.tsv  name<TAB>label, no header (tune's --labels)
    OUT/manifest.json                         packages, versions, sha256 of every output, parameters

Outputs that exist are kept unless --force. 5,000 + 1,000 reads per label at four rates
take ~45 s on 2 cores; the defaults a few times that.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

READ_LEN = 150
HERE = Path(__file__).resolve().parent

# Debian bookworm versions; --unpinned takes the current candidates instead
PACKAGES = {
    "ragout-examples": "2.3-4",
    "abacas-examples": "1.3.1-9",
    "cct-examples": "1:1.0.3-1",
    "r-bioc-dada2": "1.26.0+dfsg-1",
}
_RAGOUT = "usr/share/doc/ragout/examples"
# label -> (package, path inside the package)
GENOMES = {
    "ecoli_mg1655": ("ragout-examples", f"{_RAGOUT}/E.Coli/references/MG1655-K12.fasta.gz"),
    "hpylori_g27": ("ragout-examples", f"{_RAGOUT}/H.Pylori/references/G27.fasta.gz"),
    "saureus_n315": ("ragout-examples", f"{_RAGOUT}/S.Aureus/references/N315.fasta.gz"),
    "saureus_usa300": (
        "ragout-examples",
        f"{_RAGOUT}/S.Aureus/references/USA300_FPR3757.fasta.gz",
    ),
    "vcholerae_n16961": ("ragout-examples", f"{_RAGOUT}/V.Cholerae/references/O1_biovar.fasta.gz"),
    "ssuis_sc84": ("abacas-examples", "usr/share/doc/abacas-examples/SS_SC84.dna.gz"),
    "rdenitrificans_och114": (
        "cct-examples",
        "usr/share/cct/lib/scripts/get_orfs/test_input/R_denitrificans.gbk",
    ),
}
DISTINCT = [
    "ecoli_mg1655",
    "hpylori_g27",
    "saureus_n315",
    "vcholerae_n16961",
    "ssuis_sc84",
    "rdenitrificans_och114",
]
CLOSE = ["saureus_n315", "saureus_usa300"]
TEN_16S = ("r-bioc-dada2", "usr/lib/R/site-library/dada2/extdata/ten_16s.100.fa.gz")
GENUS_TRAIN_SEQS = 7  # of the ten per genus; the other three give the held-out reads

_CLEAN = bytes.maketrans(b"acgtnRYKMSWBDHVrykmswbdhv", b"ACGTNNNNNNNNNNNNNNNNNNNNN")
_COMP = np.frombuffer(bytes.maketrans(b"ACGTN", b"TGCAN"), dtype=np.uint8)
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_CODE = np.full(256, 4, dtype=np.int64)
_CODE[_BASES] = np.arange(4)


def log(msg: str) -> None:
    print(f"[embed_data] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- sources


def fetch_package(name: str, debs: Path, pinned: bool) -> Path:
    """Unpacks the package (downloaded once into DEBS) and returns the unpacked root."""
    root = debs / name
    if root.is_dir():
        return root
    debs.mkdir(parents=True, exist_ok=True)
    spec = f"{name}={PACKAGES[name]}" if pinned else name
    log(f"apt-get download {spec}")
    subprocess.run(
        ["apt-get", "download", "-q", spec], cwd=debs, check=True, stdout=subprocess.DEVNULL
    )
    deb = next(p for p in sorted(debs.glob(f"{name}_*.deb")))
    tmp = debs / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
    tmp.rename(root)
    return root


def read_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return f.read()


def parse_fasta(text: str) -> list[tuple[str, bytes]]:
    out = []
    for block in text.split(">")[1:]:
        head, _, body = block.partition("\n")
        seq = re.sub(r"\s+", "", body).encode().translate(_CLEAN)
        out.append((head.strip(), seq))
    return out


def parse_genbank(text: str) -> list[tuple[str, bytes]]:
    """(LOCUS name, sequence of the ORIGIN section) per record."""
    out = []
    for rec in text.split("\n//")[:-1]:
        locus = re.search(r"^LOCUS\s+(\S+)", rec, re.M)
        origin = rec.split("\nORIGIN", 1)
        if locus is None or len(origin) < 2:
            continue
        seq = re.sub(r"[\s\d]+", "", origin[1].partition("\n")[2]).encode().translate(_CLEAN)
        out.append((locus.group(1), seq))
    return out


def load_genome(label: str, debs: Path, pinned: bool) -> list[tuple[str, bytes]]:
    pkg, rel = GENOMES[label]
    path = fetch_package(pkg, debs, pinned) / rel
    text = read_text(path)
    records = parse_genbank(text) if ".gbk" in path.name else parse_fasta(text)
    if not records or sum(len(s) for _, s in records) < 1_000_000:
        raise SystemExit(f"{path}: expected a bacterial chromosome, found {len(records)} records")
    return records


def write_fasta(path: Path, records: list[tuple[str, bytes]]) -> None:
    with open(path, "wb") as f:
        for name, seq in records:
            f.write(b">" + name.encode() + b"\n")
            for i in range(0, len(seq), 80):
                f.write(seq[i : i + 80] + b"\n")


# ---------------------------------------------------------------- reads


@dataclass
class Reads:
    """n reads: concatenated ASCII bases + offsets, quality the same way, source record index."""

    seq: np.ndarray  # uint8
    qual: np.ndarray  # uint8
    offsets: np.ndarray  # int64[n+1]
    source: np.ndarray  # int64[n], index into the records given to the simulator

    def __len__(self) -> int:
        return len(self.source)

    def take(self, idx: np.ndarray) -> Reads:
        lens = np.diff(self.offsets)[idx]
        starts = self.offsets[:-1][idx]
        pos = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        flat = np.arange(lens.sum()) + pos
        offs = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
        return Reads(self.seq[flat], self.qual[flat], offs, self.source[idx])


def inject_errors(
    frags: np.ndarray, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Errors into equal-length fragments (uint8 [n, L]): per base with probability RATE, 60 %
    substitution, 20 % insertion before the base, 20 % deletion. Returns (bases, offsets)."""
    n, length = frags.shape
    u = rng.random((n, length))
    sub = u < 0.6 * rate
    ins = (u >= 0.6 * rate) & (u < 0.8 * rate)
    dele = (u >= 0.8 * rate) & (u < rate)
    code = _CODE[frags]  # A0 C1 G2 T3, anything else 4 (kept as it is)
    shift = rng.integers(1, 4, size=(n, length))
    out = frags.copy()
    valid = code < 4
    subst = sub & valid
    out[subst] = _BASES[(code[subst] + shift[subst]) % 4]
    copies = np.where(dele, 0, np.where(ins, 2, 1)).ravel()
    bases = np.repeat(out.ravel(), copies)
    # the first of the two copies of an inserted base becomes a random base
    first = np.cumsum(copies) - copies  # index of each input base's first copy
    ins_at = first[ins.ravel()]
    bases[ins_at] = _BASES[rng.integers(0, 4, size=len(ins_at))]
    lens = copies.reshape(n, length).sum(axis=1)
    return bases, np.concatenate(([0], np.cumsum(lens))).astype(np.int64)


def fragments(
    records: list[tuple[str, bytes]], n: int, rng: np.random.Generator, length: int = READ_LEN
) -> tuple[np.ndarray, np.ndarray]:
    """n error-free fragments (uint8 [n, length]) at uniform positions and strands of the
    records (weighted by the number of start positions); and each one's record index."""
    starts_per = np.array([max(len(s) - length + 1, 0) for _, s in records], dtype=np.int64)
    if starts_per.sum() == 0:
        raise SystemExit(f"no record is {length} bp long")
    cat = np.frombuffer(b"".join(s for _, s in records), dtype=np.uint8)
    rec_off = np.concatenate(([0], np.cumsum([len(s) for _, s in records])[:-1]))
    rec = rng.choice(len(records), size=n, p=starts_per / starts_per.sum())
    pos = rec_off[rec] + (rng.random(n) * starts_per[rec]).astype(np.int64)
    frags = cat[pos[:, None] + np.arange(length)]
    rev = rng.random(n) < 0.5
    frags[rev] = _COMP[frags[rev, ::-1]]
    return frags, rec


def simulate_injected(
    records: list[tuple[str, bytes]], n: int, rate: float, seed: int, length: int = READ_LEN
) -> Reads:
    rng = np.random.default_rng(seed)
    frags, rec = fragments(records, n, rng, length)
    bases, offs = inject_errors(frags, rate, rng)
    q = 40 if rate <= 0 else min(40, max(2, round(-10 * np.log10(rate))))
    return Reads(bases, np.full(len(bases), 33 + q, dtype=np.uint8), offs, rec)


def simulate_art(records: list[tuple[str, bytes]], n: int, seed: int, work: Path) -> Reads:
    """art_illumina HS25 150 bp single-end at a coverage giving ~1.1 n reads (records in
    proportion to their length), then exactly n of them drawn with the seed."""
    usable = [i for i, (_, s) in enumerate(records) if len(s) >= READ_LEN]
    fa = work / "ref.fa"
    write_fasta(fa, [(f"rec{i}", records[i][1]) for i in usable])
    total = sum(len(records[i][1]) for i in usable)
    for attempt in range(4):  # short records (16S) give fewer reads than the coverage implies
        fold = 1.1 * 1.5**attempt * n * READ_LEN / total + 0.01
        prefix = work / f"art{attempt}_"
        cmd = ["art_illumina", "-ss", "HS25", "-i", str(fa), "-l", str(READ_LEN)]
        cmd += ["-f", f"{fold:.4f}", "-rs", str(seed), "-o", str(prefix), "-na", "-q"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lines = Path(f"{prefix}.fq").read_bytes().split(b"\n")
        m = len(lines) // 4  # the file ends with a newline: one empty piece after the last
        if m >= n:
            break
    else:
        raise SystemExit(f"art_illumina gave {m} reads, {n} wanted")
    heads, seqs, quals = lines[0::4][:m], lines[1::4][:m], lines[3::4][:m]
    src = np.array([int(h[4 : h.rindex(b"-")]) for h in heads], dtype=np.int64)  # @recI-N
    lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=m)
    allr = Reads(
        np.frombuffer(b"".join(seqs), dtype=np.uint8).copy(),
        np.frombuffer(b"".join(quals), dtype=np.uint8).copy(),
        np.concatenate(([0], np.cumsum(lens))).astype(np.int64),
        src,
    )
    pick = np.sort(np.random.default_rng(seed).choice(m, size=n, replace=False))
    return allr.take(pick)


def simulate(records: list[tuple[str, bytes]], n: int, rate: str, seed: int, work: Path) -> Reads:
    if rate == "illumina":
        return simulate_art(records, n, seed, work)
    return simulate_injected(records, n, float(rate), seed)


# ---------------------------------------------------------------- datasets


def write_split(
    dest: Path, split: str, groups: list[tuple[str, Reads]], prefix: str, seed: int
) -> None:
    """Shuffles the groups' reads together, writes SPLIT.fastq and SPLIT.labels.tsv."""
    labels = np.concatenate([np.full(len(r), i) for i, (_, r) in enumerate(groups)])
    order = np.random.default_rng(seed).permutation(len(labels))
    fq, tsv = [], []
    parts = [(r, np.diff(r.offsets), r.offsets[:-1]) for _, r in groups]
    within = np.concatenate([np.arange(len(r)) for _, r in groups])
    for j, i in enumerate(order):
        r, lens, starts = parts[labels[i]]
        k = within[i]
        a, b = starts[k], starts[k] + lens[k]
        name = f"{prefix}_{split}_{j:07d}".encode()
        fq.append(
            b"@" + name + b"\n" + r.seq[a:b].tobytes() + b"\n+\n" + r.qual[a:b].tobytes() + b"\n"
        )
        tsv.append(name + b"\t" + groups[labels[i]][0].encode() + b"\n")
    for path, chunks in ((dest / f"{split}.fastq", fq), (dest / f"{split}.labels.tsv", tsv)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(b"".join(chunks))
        tmp.rename(path)


def build_dataset(
    name: str,
    train_groups: dict[str, list[tuple[str, bytes]]],
    test_groups: dict[str, list[tuple[str, bytes]]],
    args: argparse.Namespace,
    rates: list[str],
) -> dict:
    info: dict = {"labels": list(train_groups), "rates": {}}
    for ri, rate in enumerate(rates):
        dest = args.out / name / rate
        files = [dest / f"{s}.{x}" for s in ("train", "test") for x in ("fastq", "labels.tsv")]
        if all(f.exists() for f in files) and not args.force:
            log(f"{name}/{rate}: exists, kept")
        else:
            log(f"{name}/{rate}: simulating")
            simulate_dataset(name, rate, ri, dest, train_groups, test_groups, args)
        info["rates"][rate] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    return info


def simulate_dataset(
    name: str,
    rate: str,
    ri: int,
    dest: Path,
    train_groups: dict[str, list[tuple[str, bytes]]],
    test_groups: dict[str, list[tuple[str, bytes]]],
    args: argparse.Namespace,
) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seqray-embed-") as tmp:
        for si, (split, groups, n) in enumerate(
            (("train", train_groups, args.train), ("test", test_groups, args.test))
        ):
            reads = []
            for gi, (label, recs) in enumerate(groups.items()):
                seed = args.seed * 1_000_003 + ri * 10_007 + si * 1_009 + gi * 101
                work = Path(tmp) / f"{split}_{gi}"
                work.mkdir()
                reads.append((label, simulate(recs, n, rate, seed, work)))
            prefix = f"{name}_{rate.replace('.', 'p')}"
            write_split(dest, split, reads, prefix, args.seed + si)


def ten_16s_groups(path: Path, classes: int, seed: int) -> tuple[dict, dict]:
    """Genus -> (7 training sequences, 3 held-out sequences) for CLASSES genera drawn with SEED."""
    by_genus: dict[str, list[tuple[str, bytes]]] = {}
    for head, seq in parse_fasta(read_text(path)):
        m = re.search(r"g:([^;]+)", head)
        if m and len(seq) >= READ_LEN:
            by_genus.setdefault(m.group(1), []).append((head.split(";")[0], seq))
    full = sorted(g for g, s in by_genus.items() if len(s) >= GENUS_TRAIN_SEQS + 2)
    if classes > len(full):
        raise SystemExit(
            f"--genus-classes {classes}: only {len(full)} genera have enough sequences"
        )
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(full, size=classes, replace=False).tolist())
    train, test = {}, {}
    for g in chosen:
        seqs = by_genus[g]
        perm = rng.permutation(len(seqs))
        train[g] = [seqs[i] for i in perm[:GENUS_TRAIN_SEQS]]
        test[g] = [seqs[i] for i in perm[GENUS_TRAIN_SEQS:]]
    return train, test


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=HERE / "data" / "embed")
    p.add_argument("--train", type=int, default=20_000, help="training reads per label")
    p.add_argument("--test", type=int, default=5_000, help="held-out reads per label")
    p.add_argument(
        "--rates", default="illumina,0.10,0.15", help="illumina and/or error rates (0 = error-free)"
    )
    p.add_argument("--datasets", default="distinct,close,16s")
    p.add_argument("--genus-classes", type=int, default=20)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--unpinned", action="store_true", help="take current package versions")
    p.add_argument("--force", action="store_true", help="rebuild existing read sets")
    args = p.parse_args(argv)
    rates = [r.strip() for r in args.rates.split(",") if r.strip()]
    for r in rates:
        if r != "illumina" and not 0 <= float(r) < 1:
            p.error(f"--rates: {r!r} is neither 'illumina' nor an error rate in [0, 1)")
    if "illumina" in rates and shutil.which("art_illumina") is None:
        p.error("art_illumina not found: apt-get install art-nextgen-simulation-tools")
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    debs = args.out / "debs"
    pinned = not args.unpinned
    manifest: dict = {
        "read_length": READ_LEN,
        "train_per_label": args.train,
        "test_per_label": args.test,
        "seed": args.seed,
        "error_model": "per base: 60% substitution, 20% insertion, 20% deletion; uniform",
        "packages": {k: (v if pinned else "unpinned") for k, v in PACKAGES.items()},
        "sources": {},
        "datasets": {},
    }
    genomes: dict[str, list[tuple[str, bytes]]] = {}
    needed = (DISTINCT if "distinct" in wanted else []) + (CLOSE if "close" in wanted else [])
    (args.out / "genomes").mkdir(parents=True, exist_ok=True)
    for label in dict.fromkeys(needed):
        genomes[label] = load_genome(label, debs, pinned)
        fa = args.out / "genomes" / f"{label}.fa"
        write_fasta(fa, genomes[label])
        manifest["sources"][label] = {
            "package": GENOMES[label][0],
            "path": GENOMES[label][1],
            "records": [n for n, _ in genomes[label]],
            "bases": sum(len(s) for _, s in genomes[label]),
            "sha256": hashlib.sha256(fa.read_bytes()).hexdigest(),
        }
    for ds in wanted:
        if ds in ("distinct", "close"):
            groups = {g: genomes[g] for g in (DISTINCT if ds == "distinct" else CLOSE)}
            manifest["datasets"][ds] = build_dataset(ds, groups, groups, args, rates)
        elif ds == "16s":
            path = fetch_package(TEN_16S[0], debs, pinned) / TEN_16S[1]
            train, test = ten_16s_groups(path, args.genus_classes, args.seed)
            manifest["sources"]["ten_16s"] = {"package": TEN_16S[0], "path": TEN_16S[1]}
            manifest["datasets"][ds] = build_dataset(ds, train, test, args, rates)
        else:
            p.error(f"--datasets: unknown {ds!r} (distinct, close, 16s)")
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log(f"done: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
