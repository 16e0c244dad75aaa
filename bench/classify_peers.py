"""Read-of-origin classification by the peers (issue 17, "Peers"): Kraken 2 and minimap2.

    python bench/classify_peers.py [--data bench/data/embed] [--datasets distinct,close]
        [--rates illumina,0.10,0.15] [--tools kraken2,mappy] [--mappy-illumina sr]
        [--mappy-noisy "map-ont;map-ont:k=11,w=3,min_cnt=2,min_chain_score=20;..."]
        [--cpus 0,1] [--workdir bench/data/classify] [--keep] [--json FILE]

Inputs are `bench/embed_data.py`'s held-out read sets (DATASET/RATE/test.fastq with
test.labels.tsv) and the genomes they were drawn from (genomes/LABEL.fa); the labels of a
dataset are its manifest.json entry. Neither peer sees the training reads: both index the
reference genomes, as a user of either tool would.

- **Kraken 2** (Debian `kraken2`): per dataset one database, built without any download.
  Every record of LABEL.fa becomes `>LABEL_NN|kraken:taxid|T` (one taxid per label) and a
  hand-written taxonomy (`taxonomy/nodes.dmp`, `names.dmp`) puts each label under the root,
  or under a shared species node when labels are strains of one species (the S. aureus pair
  of "close"). `kraken2-build --add-to-library` (default low-complexity masking) then
  `kraken2-build --build --threads T` (default k = 35, l = 31), then per rate
  `kraken2 --db DB --threads T --report R --output O test.fastq` (confidence 0). A read is
  called LABEL when its taxid is LABEL's; one classified to a node above the labels (the
  root, the species) is classified but ambiguous.
- **minimap2 through mappy** (PyPI `mappy`), the accuracy ceiling: one index per dataset
  and setting (`mappy.Aligner(refs, preset=P, n_threads=T, **OPTIONS)`, saved as a .mmi;
  a setting is written `PRESET[:OPTION=INT,...]`, OPTION one of mappy.Aligner's keyword
  arguments such as k, w, min_cnt, min_chain_score, bw). Illumina reads get preset "sr";
  the 10-15 % reads the stock "map-ont" and two more sensitive seedings of it (k = 11,
  w = 3 and k = 9, w = 5, with at least 2 minimizers and a chain score of 20), since
  the stock presets' 15-mer seeds rarely survive those error rates in 150 bp. Every read is
  aligned (`Aligner.map` with one `ThreadBuffer` per task, T threads of a
  ThreadPoolExecutor over runs of 1,000 reads; mappy releases the GIL while aligning) and
  called with the label of its best primary hit (highest mapq, then longest alignment);
  no hit: unclassified. A best hit of mapq 0 (equally good elsewhere) is ambiguous.

Per dataset × rate × tool (and setting) the report gives: accuracy (reads called with their
true label / all reads; unclassified reads count as wrong), classified (share of reads given
any call), precision (correct / classified), ambiguous (share of reads whose call is above
the labels or of mapq 0), reads/s, the index build seconds and the index size. Kraken 2's
reads/s is the wall time of the whole `kraken2` call, loading the database included (the
database is small); mappy's counts the alignments only (the index is built beforehand and
timed apart). Both run pinned to --cpus, so T = the number of CPUs given.

Accuracy is deterministic (same inputs, same calls); times depend on the machine's load.
A Markdown table goes to stdout, progress to stderr; --json writes every number plus each
run's confusion counts (true label × call).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import _harness as H
import numpy as np
from embed_accuracy import align, read_labels

HERE = Path(__file__).resolve().parent
TOOLS = ("kraken2", "mappy")
UNCLASSIFIED = "(unclassified)"
AMBIGUOUS = "(above labels)"
# Labels that are strains of one species share a species node in the Kraken 2 taxonomy,
# so k-mers common to both go to the species (as in NCBI's tree), not to the root.
SPECIES_OF = {
    "saureus_n315": "Staphylococcus aureus",
    "saureus_usa300": "Staphylococcus aureus",
}
LABEL_TAXID0 = 1000  # labels get taxids 1001, 1002, ... in manifest order; species 2..
MAPPY_CHUNK = 1000  # reads per mappy task
SENSITIVE = "min_cnt=2,min_chain_score=20"
MAPPY_NOISY = f"map-ont;map-ont:k=11,w=3,{SENSITIVE};map-ont:k=9,w=5,{SENSITIVE}"


@dataclass
class Result:
    dataset: str
    error: str
    tool: str
    setting: str
    reads: int
    correct: int
    classified: int
    ambiguous: int
    accuracy: float
    classified_share: float
    precision: float
    ambiguous_share: float
    wall_s: float
    reads_per_s: float
    build_s: float
    index_bytes: int
    peak_rss_mib: float | None = None
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)


def score(
    dataset: str,
    rate: str,
    tool: str,
    setting: str,
    truth: np.ndarray,
    call: np.ndarray,
    ambiguous: np.ndarray,
    wall_s: float,
    build: tuple[float, int],
    peak_rss_mib: float | None = None,
) -> Result:
    """The counts of one run: `call` holds a label, UNCLASSIFIED or AMBIGUOUS per read (in
    `truth`'s order); `ambiguous` marks calls that are ties (also those of AMBIGUOUS)."""
    n = len(truth)
    correct = int((call == truth).sum())
    classified = int((call != UNCLASSIFIED).sum())
    amb = int(ambiguous.sum())
    pairs, counts = np.unique(np.stack([truth, call]), axis=1, return_counts=True)
    confusion: dict[str, dict[str, int]] = {}
    for (t, c), k in zip(pairs.T.tolist(), counts.tolist(), strict=True):
        confusion.setdefault(t, {})[c] = k
    return Result(
        dataset,
        rate,
        tool,
        setting,
        n,
        correct,
        classified,
        amb,
        correct / n,
        classified / n,
        correct / classified if classified else 0.0,
        amb / n,
        wall_s,
        n / wall_s,
        build[0],
        build[1],
        peak_rss_mib,
        confusion,
    )


# ---------------------------------------------------------------- references


def fasta_records(path: Path) -> list[bytes]:
    """The sequences of a FASTA file (line breaks removed), in file order."""
    text = path.read_bytes()
    if not text.startswith(b">"):
        sys.exit(f"{path}: not a FASTA file (no '>' at the start)")
    return [b"".join(rec.split(b"\n")[1:]) for rec in text[1:].split(b"\n>")]


def write_references(labels: list[str], genomes: Path, out: Path) -> dict[str, str]:
    """One FASTA of every record of every label, named `LABEL_NN|kraken:taxid|T` (the
    Kraken 2 form; minimap2 keeps it whole as the contig name); returns contig → label."""
    contig_label = {}
    with open(out, "wb") as f:
        for i, label in enumerate(labels):
            fa = genomes / f"{label}.fa"
            if not fa.exists():
                sys.exit(f"{fa}: genome of label {label!r} missing (run bench/embed_data.py)")
            for j, seq in enumerate(fasta_records(fa)):
                name = f"{label}_{j:02d}|kraken:taxid|{LABEL_TAXID0 + 1 + i}"
                contig_label[name] = label
                f.write(b">" + name.encode() + b"\n")
                for a in range(0, len(seq), 80):
                    f.write(seq[a : a + 80] + b"\n")
    return contig_label


def taxonomy(labels: list[str]) -> tuple[list[tuple[int, int, str, str]], dict[int, str]]:
    """(taxid, parent, rank, name) rows: the root (1), one species node per species shared
    by several labels (2, 3, ...), one node per label; and taxid → label."""
    rows = [(1, 1, "no rank", "root")]
    species: dict[str, int] = {}
    for label in labels:
        name = SPECIES_OF.get(label)
        if name and name not in species and sum(SPECIES_OF.get(x) == name for x in labels) > 1:
            species[name] = len(species) + 2
            rows.append((species[name], 1, "species", name))
    of_taxid = {}
    for i, label in enumerate(labels):
        taxid = LABEL_TAXID0 + 1 + i
        parent = species.get(SPECIES_OF.get(label, ""), 1)
        rows.append((taxid, parent, "strain" if parent != 1 else "species", label))
        of_taxid[taxid] = label
    return rows, of_taxid


def write_taxonomy(rows: list[tuple[int, int, str, str]], dest: Path) -> None:
    """nodes.dmp and names.dmp in NCBI's dump format (fields end in TAB|TAB, rows in TAB|)."""
    dest.mkdir(parents=True, exist_ok=True)
    nodes = "".join(f"{t}\t|\t{p}\t|\t{r}\t|\t-\t|\n" for t, p, r, _ in rows)
    names = "".join(f"{t}\t|\t{n}\t|\t-\t|\tscientific name\t|\n" for t, _, _, n in rows)
    (dest / "nodes.dmp").write_text(nodes)
    (dest / "names.dmp").write_text(names)


# ---------------------------------------------------------------- Kraken 2


def kraken2_build(refs: Path, labels: list[str], db: Path, args) -> tuple[float, int]:
    """A fresh database at DB from the references; (build seconds: add-to-library, masking
    included, plus build; bytes of the *.k2d files that kraken2 loads)."""
    if db.exists():
        shutil.rmtree(db)
    rows, _ = taxonomy(labels)
    write_taxonomy(rows, db / "taxonomy")
    t = str(args.threads)
    add = ["kraken2-build", "--add-to-library", str(refs), "--db", str(db)]
    build = ["kraken2-build", "--build", "--db", str(db), "--threads", t]
    took = 0.0
    for name, cmd in (("kraken2-build add", add), ("kraken2-build build", build)):
        took += H.run_once(H.Tool(name, cmd, [refs]), args.cpu_list).wall_s
    size = sum(p.stat().st_size for p in db.glob("*.k2d"))
    return took, size


def kraken2_calls(out: Path, of_taxid: dict[int, str], names: np.ndarray) -> np.ndarray:
    """Per read (in `names`' order): its label, UNCLASSIFIED (U, taxid 0) or AMBIGUOUS (a
    taxid that is no label's), from kraken2's --output (C/U, name, taxid, length, LCAs)."""
    rows = np.loadtxt(out, dtype=str, delimiter="\t", usecols=(0, 1, 2), ndmin=2)
    taxid = rows[:, 2].astype(np.int64)
    known = np.array(sorted(of_taxid), dtype=np.int64)
    pos = np.minimum(np.searchsorted(known, taxid), len(known) - 1)
    is_label = known[pos] == taxid
    label = np.array([of_taxid[t] for t in known.tolist()], dtype=object)[pos]
    call = np.where(is_label, label, np.where(taxid == 0, UNCLASSIFIED, AMBIGUOUS))
    if not np.array_equal(taxid == 0, rows[:, 0] == "U"):
        sys.exit(f"{out}: C/U column disagrees with taxid 0")
    if len(rows) != len(names):
        sys.exit(f"{out}: {len(rows)} reads classified, {len(names)} expected")
    return align(rows[:, 1], names, call.astype(str), str(out))


def run_kraken2(ds: str, rate: str, fq: Path, truth, names, db, of_taxid, build, args, work):
    out, report = work / "kraken2.out", work / "kraken2.report"
    cmd = ["kraken2", "--db", str(db), "--threads", str(args.threads)]
    cmd += ["--report", str(report), "--output", str(out), str(fq)]
    H.warm([fq, db])
    s = H.run_once(H.Tool("kraken2", cmd, [fq, db], [out, report]), args.cpu_list)
    call = kraken2_calls(out, of_taxid, names)
    amb = call == AMBIGUOUS
    return score(ds, rate, "kraken2", "k35 l31", truth, call, amb, s.wall_s, build, s.peak_rss_mib)


# ---------------------------------------------------------------- minimap2 (mappy)


def mappy_setting(spec: str) -> tuple[str, dict[str, int]]:
    """`PRESET[:OPTION=INT,...]` → (preset, keyword arguments of mappy.Aligner)."""
    preset, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not (eq and key.isidentifier() and value.lstrip("-").isdigit()):
            raise ValueError(f"mappy setting {spec!r}: {item!r} is not OPTION=INT")
        options[key] = int(value)
    if not preset:
        raise ValueError(f"mappy setting {spec!r}: no preset")
    return preset, options


def mappy_index(refs: Path, spec: str, dest: Path, threads: int):
    """The aligner of one setting over the references, its index also saved to DEST (for
    its size); (aligner, build seconds, index bytes)."""
    import mappy

    preset, options = mappy_setting(spec)
    dest.unlink(missing_ok=True)
    t0 = time.perf_counter()
    aligner = mappy.Aligner(
        str(refs), preset=preset, n_threads=threads, fn_idx_out=str(dest), **options
    )
    took = time.perf_counter() - t0
    if not aligner:
        sys.exit(f"mappy could not index {refs} with setting {spec!r}")
    return aligner, took, dest.stat().st_size


def read_sequences(fq: Path) -> tuple[np.ndarray, list[str]]:
    """Names and sequences of a FASTQ, read with mappy's own parser (not timed)."""
    import mappy

    names, seqs = [], []
    for name, seq, _ in mappy.fastx_read(str(fq), read_comment=False):
        names.append(name)
        seqs.append(seq)
    return np.array(names), seqs


def best_hits(aligner, seqs: list[str], threads: int) -> tuple[list[str | None], np.ndarray]:
    """Per read the contig of its best primary hit (highest mapq, then longest alignment;
    None without one) and that hit's mapq (-1 without one); runs of MAPPY_CHUNK reads on
    `threads` threads, results in read order."""
    import mappy

    def chunk(a: int) -> tuple[list[str | None], list[int]]:
        buf = mappy.ThreadBuffer()
        ctgs: list[str | None] = []
        mapqs = []
        for seq in seqs[a : a + MAPPY_CHUNK]:
            best = None
            for h in aligner.map(seq, buf=buf):
                if h.is_primary and (best is None or (h.mapq, h.mlen) > (best.mapq, best.mlen)):
                    best = h
            ctgs.append(best.ctg if best else None)
            mapqs.append(best.mapq if best else -1)
        return ctgs, mapqs

    ctgs: list[str | None] = []
    mapqs: list[int] = []
    with ThreadPoolExecutor(threads) as pool:
        for c, q in pool.map(chunk, range(0, len(seqs), MAPPY_CHUNK)):
            ctgs += c
            mapqs += q
    return ctgs, np.array(mapqs, dtype=np.int64)


def run_mappy(ds, rate, spec, index, contig_label, fq, labels_tsv, args) -> Result:
    aligner, build_s, size = index
    names, seqs = read_sequences(fq)
    truth = read_labels(labels_tsv, names)
    os.sched_setaffinity(0, args.cpu_list)
    t0 = time.perf_counter()
    ctgs, mapq = best_hits(aligner, seqs, args.threads)
    wall = time.perf_counter() - t0
    call = np.array([UNCLASSIFIED if c is None else contig_label[c] for c in ctgs])
    return score(ds, rate, "mappy", spec, truth, call, mapq == 0, wall, (build_s, size))


# ---------------------------------------------------------------- driver


def table(results: list[Result]) -> str:
    head = (
        "| dataset | error | tool | setting | reads | accuracy | classified | precision "
        "| ambiguous | reads/s (indicative) | build s | index MiB |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        lines.append(
            f"| {r.dataset} | {r.error} | {r.tool} | {r.setting} | {r.reads:,} "
            f"| {r.accuracy:.4f} | {r.classified_share:.4f} | {r.precision:.4f} "
            f"| {r.ambiguous_share:.4f} | {r.reads_per_s:,.0f} | {r.build_s:.1f} "
            f"| {r.index_bytes / 2**20:.1f} |"
        )
    return "\n".join(lines) + "\n"


def settings_for(rate: str, args) -> list[str]:
    given = args.mappy_illumina if rate == "illumina" else args.mappy_noisy
    return [p for p in given.split(";") if p]


def run_dataset(ds: str, labels: list[str], rates: list[str], args) -> list[Result]:
    work = args.workdir / ds
    work.mkdir(parents=True, exist_ok=True)
    refs = work / "references.fa"
    contig_label = write_references(labels, args.data / "genomes", refs)
    results = []
    if "kraken2" in args.tool_list:
        db = work / "kraken2_db"
        build = kraken2_build(refs, labels, db, args)
        _, of_taxid = taxonomy(labels)
        print(f"{ds}: kraken2 database {build[1] / 2**20:.1f} MiB", file=sys.stderr)
        for rate in rates:
            d = args.data / ds / rate
            names = np.loadtxt(d / "test.labels.tsv", dtype=str, delimiter="\t", usecols=0)
            truth = read_labels(d / "test.labels.tsv", names)
            rw = work / rate
            rw.mkdir(exist_ok=True)
            r = run_kraken2(ds, rate, d / "test.fastq", truth, names, db, of_taxid, build, args, rw)
            progress(r)
            results.append(r)
    if "mappy" in args.tool_list:
        specs = dict.fromkeys(p for rate in rates for p in settings_for(rate, args))
        for i, spec in enumerate(specs):
            index = mappy_index(refs, spec, work / f"mappy_{i}.mmi", args.threads)
            for rate in rates:
                if spec in settings_for(rate, args):
                    d = args.data / ds / rate
                    fq, tsv = d / "test.fastq", d / "test.labels.tsv"
                    r = run_mappy(ds, rate, spec, index, contig_label, fq, tsv, args)
                    progress(r)
                    results.append(r)
            del index
    order = {rate: i for i, rate in enumerate(rates)}
    return sorted(results, key=lambda r: (order[r.error], r.tool != "kraken2"))


def progress(r: Result) -> None:
    print(
        f"{r.dataset} {r.error} {r.tool} {r.setting}: accuracy {r.accuracy:.4f}, "
        f"classified {r.classified_share:.4f}, {r.reads_per_s:,.0f} reads/s",
        file=sys.stderr,
        flush=True,
    )


def selfcheck(tmp: Path) -> None:
    """The script's own parts on hand-made inputs with hand-computed answers (seconds; no
    peer needed): references and taxonomy, reading kraken2's output, settings, scoring."""
    (tmp / "genomes").mkdir()
    (tmp / "genomes" / "a.fa").write_text(">x one\nACGT\nAC\n>y\nGG\n")
    (tmp / "genomes" / "saureus_n315.fa").write_text(">z\nTTTT\n")
    (tmp / "genomes" / "saureus_usa300.fa").write_text(">w\nCCCC\n")
    labels = ["a", "saureus_n315", "saureus_usa300"]
    got = write_references(labels, tmp / "genomes", tmp / "refs.fa")
    assert got == {
        "a_00|kraken:taxid|1001": "a",
        "a_01|kraken:taxid|1001": "a",
        "saureus_n315_00|kraken:taxid|1002": "saureus_n315",
        "saureus_usa300_00|kraken:taxid|1003": "saureus_usa300",
    }, got
    assert fasta_records(tmp / "refs.fa") == [b"ACGTAC", b"GG", b"TTTT", b"CCCC"]
    rows, of_taxid = taxonomy(labels)
    assert rows == [
        (1, 1, "no rank", "root"),
        (2, 1, "species", "Staphylococcus aureus"),
        (1001, 1, "species", "a"),
        (1002, 2, "strain", "saureus_n315"),
        (1003, 2, "strain", "saureus_usa300"),
    ], rows
    write_taxonomy(rows[:2], tmp / "tax")
    nodes = (tmp / "tax" / "nodes.dmp").read_text()
    assert nodes == "1\t|\t1\t|\tno rank\t|\t-\t|\n2\t|\t1\t|\tspecies\t|\t-\t|\n", nodes
    names = (tmp / "tax" / "names.dmp").read_text().splitlines()[1]
    assert names == "2\t|\tStaphylococcus aureus\t|\t-\t|\tscientific name\t|", names
    out = tmp / "k.out"
    lines = ["C\tr1\t1001\t150\t1001:5", "U\tr2\t0\t150\t0:5", "C\tr3\t2\t150\t2:5"]
    out.write_text("\n".join([*lines, "C\tr4\t1003\t150\t1003:5"]) + "\n")
    call = kraken2_calls(out, of_taxid, np.array(["r4", "r3", "r2", "r1"]))
    assert call.tolist() == ["saureus_usa300", AMBIGUOUS, UNCLASSIFIED, "a"], call
    assert mappy_setting("map-ont:k=11,w=3") == ("map-ont", {"k": 11, "w": 3})
    assert mappy_setting("sr") == ("sr", {})
    for bad in ("map-ont:k=x", ":k=3", "sr:k"):
        try:
            mappy_setting(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
    truth = np.array(["a", "a", "b", "b", "b"])
    call = np.array(["a", UNCLASSIFIED, "b", AMBIGUOUS, "a"])
    r = score("d", "e", "t", "s", truth, call, call == AMBIGUOUS, 2.0, (1.0, 10))
    assert (r.reads, r.correct, r.classified, r.ambiguous) == (5, 2, 4, 1), r
    assert (r.accuracy, r.classified_share, r.precision, r.reads_per_s) == (0.4, 0.8, 0.5, 2.5)
    assert r.confusion == {
        "a": {"a": 1, UNCLASSIFIED: 1},
        "b": {"b": 1, AMBIGUOUS: 1, "a": 1},
    }, r.confusion


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, default=HERE / "data" / "embed")
    p.add_argument("--datasets", default="distinct,close")
    p.add_argument("--rates", default="illumina,0.10,0.15")
    p.add_argument("--tools", default=",".join(TOOLS), help="kraken2, mappy or both")
    p.add_argument(
        "--mappy-illumina", default="sr", help="mappy settings (;-separated) for illumina"
    )
    p.add_argument(
        "--mappy-noisy", default=MAPPY_NOISY, help="mappy settings (;-separated), other rates"
    )
    p.add_argument("--cpus", default=H.DEFAULT_CPUS, help="CPUs every run is pinned to (0,1)")
    p.add_argument("--workdir", type=Path, default=HERE / "data" / "classify")
    p.add_argument("--keep", action="store_true", help="keep the databases and outputs")
    p.add_argument("--json", type=Path, help="also write every number here")
    p.add_argument("--selfcheck", action="store_true", help="check this script's parts, exit")
    args = p.parse_args(argv)
    if args.selfcheck:
        with tempfile.TemporaryDirectory(prefix="classify-peers-") as tmp:
            selfcheck(Path(tmp))
        print("selfcheck passed", file=sys.stderr)
        return 0
    args.cpu_list = [int(c) for c in args.cpus.split(",")]
    args.threads = len(args.cpu_list)
    args.tool_list = [t for t in args.tools.split(",") if t]
    for t in args.tool_list:
        if t not in TOOLS:
            p.error(f"--tools: unknown {t!r} (one of {', '.join(TOOLS)})")
    for opt in ("mappy_illumina", "mappy_noisy"):
        for spec in filter(None, getattr(args, opt).split(";")):
            try:
                mappy_setting(spec)
            except ValueError as e:
                p.error(f"--{opt.replace('_', '-')}: {e}")
    if "kraken2" in args.tool_list:
        H.require("kraken2", "kraken2-build")
    if "mappy" in args.tool_list:
        try:
            import mappy  # noqa: F401
        except ImportError:
            sys.exit("mappy is not installed: pip install mappy (see bench/README-classify.md)")
    manifest_path = args.data / "manifest.json"
    if not manifest_path.exists():
        p.error(f"{manifest_path}: no manifest (run bench/embed_data.py)")
    manifest = json.loads(manifest_path.read_text())
    rates = [x for x in args.rates.split(",") if x]
    datasets = [x for x in args.datasets.split(",") if x]
    for ds in datasets:
        if ds not in manifest["datasets"]:
            p.error(f"--datasets: {ds!r} not in {manifest_path}")
        for rate in rates:
            if not (args.data / ds / rate / "test.labels.tsv").exists():
                p.error(f"{args.data / ds / rate}: no read set (run bench/embed_data.py)")
    made = not args.workdir.exists()
    results = []
    load_before = os.getloadavg()[0]
    try:
        for ds in datasets:
            results += run_dataset(ds, manifest["datasets"][ds]["labels"], rates, args)
    finally:
        if not args.keep:
            for ds in datasets:
                shutil.rmtree(args.workdir / ds, ignore_errors=True)
            if made:
                shutil.rmtree(args.workdir, ignore_errors=True)
    text = table(results)
    print(text, end="")
    if args.json:
        report = {
            "cpus": args.cpu_list,
            "load_avg_1min_before": load_before,
            "load_avg_1min_after": os.getloadavg()[0],
            "versions": versions(args.tool_list),
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def versions(tools: list[str]) -> dict[str, str]:
    import subprocess

    out = {}
    if "kraken2" in tools:
        first = subprocess.run(["kraken2", "--version"], capture_output=True, text=True)
        out["kraken2"] = first.stdout.splitlines()[0] if first.stdout else "?"
    if "mappy" in tools:
        import mappy

        out["mappy"] = mappy.__version__
    return out


if __name__ == "__main__":
    sys.exit(main())
