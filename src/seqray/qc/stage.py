"""The `qc` pipeline stage: fastp's trimming and filtering, with every read accounted for.

Config fields carry fastp's long option names and defaults, so a fastp command line maps
one to one (the `seqray qc` CLI also takes fastp's short flags). Per input file the stage
counts reads and raw bases by outcome: passed, each filter reason, duplicated; reads in =
passed + Σ reasons + duplicated, and the same for bases.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from ..errors import ConfigError, InputError
from ..io.buffers import values_offsets
from ..io.parse import ReadOptions
from ..io.readers import open_chunk
from ..io.schema import NAME, QUAL, QUAL2, RECORD, SEQ, SEQ2, numeric_array
from ..io.sources import plan_chunks
from ..pipeline.outputs import Target
from ..pipeline.registry import (
    FinishContext,
    MapStage,
    PrepareContext,
    Routed,
    StageConfig,
    register,
)
from . import adapter_detect
from . import kernel as K
from .adapter_detect import DetectedAdapter
from .adapters import adapter_cutting, complement_table, cut_pieces
from .dedup import DuplicateMarking
from .failed import FAILED, failed_pairs, failed_reads, unpaired
from .filters import DUPLICATED, LOW_COMPLEXITY, N_CODES, PASSED, REASONS
from .merge import AS_PAIR, MERGED, Merging
from .overrep import Candidates, OverrepTally, find_candidates, first_reads
from .umi import UmiLocation, apply_umi, check_umi

TWO_COLOR_PREFIXES = ("NS", "NB", "A0")  # NextSeq 500/550, NovaSeq (fastp 0.23.2)
AUTO = "auto"  # adapter_sequence: detect it (single-end reads), as fastp's default
_ACGT = set("ACGTN")


class QcConfig(StageConfig):
    """fastp's options (long names) and defaults."""

    path_fields = ("json_report", "html_report")

    # trimming (-f -t -F -T -b -B)
    trim_front1: int = Field(0, ge=0)
    trim_tail1: int = Field(0, ge=0)
    trim_front2: int | None = Field(None, ge=0)  # None: as read 1 (fastp)
    trim_tail2: int | None = Field(None, ge=0)
    max_len1: int = Field(0, ge=0)
    max_len2: int | None = Field(None, ge=0)
    # sliding-window cuts (-5 -3 -r -W -M and per-side overrides)
    cut_front: bool = False
    cut_tail: bool = False
    cut_right: bool = False
    cut_window_size: int = Field(4, ge=1, le=1000)
    cut_mean_quality: int = Field(20, ge=1, le=36)
    cut_front_window_size: int | None = Field(None, ge=1, le=1000)
    cut_front_mean_quality: int | None = Field(None, ge=1, le=36)
    cut_tail_window_size: int | None = Field(None, ge=1, le=1000)
    cut_tail_mean_quality: int | None = Field(None, ge=1, le=36)
    cut_right_window_size: int | None = Field(None, ge=1, le=1000)
    cut_right_mean_quality: int | None = Field(None, ge=1, le=36)
    # poly-G / poly-X (-g -G -x)
    trim_poly_g: bool | None = None  # None: on for NextSeq/NovaSeq read names (fastp)
    poly_g_min_len: int = Field(10, ge=1)
    trim_poly_x: bool = False
    poly_x_min_len: int = Field(10, ge=1)
    # adapters (-a --adapter_sequence_r2 -A); pairs are also trimmed by overlap analysis;
    # "auto": detected for single-end reads (fastp's default), none for pairs; None: none
    disable_adapter_trimming: bool = False
    adapter_sequence: str | None = AUTO
    adapter_sequence_r2: str | None = None  # None: read 1's adapter (fastp)
    overlap_len_require: int = Field(30, ge=1)
    overlap_diff_limit: int = Field(5, ge=0)
    overlap_diff_percent_limit: int = Field(20, ge=0, le=100)
    # base correction in the overlap of a pair (-c; single-end reads: ignored, as fastp)
    correction: bool = False
    # merging of overlapping pairs (-m --include_unmerged), rows of the `merged` branch;
    # as in fastp, merging turns -c on, and include_unmerged without merge does nothing
    merge: bool = False
    include_unmerged: bool = False
    # filters (-Q -q -u -n -e -L -l --length_limit -y -Y)
    disable_quality_filtering: bool = False
    qualified_quality_phred: int = Field(15, ge=0, le=93)
    unqualified_percent_limit: int = Field(40, ge=0, le=100)
    n_base_limit: int = Field(5, ge=0)
    average_qual: int = Field(0, ge=0, le=93)
    disable_length_filtering: bool = False
    length_required: int = Field(15, ge=0)
    length_limit: int = Field(0, ge=0)
    low_complexity_filter: bool = False
    complexity_threshold: int = Field(30, ge=0, le=100)
    # duplicates (--dedup): the first copy of a raw read (pair) by identity is kept
    dedup: bool = False
    # UMI (-U --umi_loc --umi_len --umi_prefix --umi_skip): moved into the read names
    umi: bool = False
    umi_loc: UmiLocation | None = None
    umi_len: int = Field(0, ge=0)
    umi_prefix: str = ""
    umi_skip: int = Field(0, ge=0, le=100)
    # the reports' duplication rate costs a pass over the input (fastp evaluates it too)
    dont_eval_duplication: bool = False
    # overrepresented sequences (-p -P), in the reports
    overrepresentation_analysis: bool = False
    overrepresentation_sampling: int = Field(20, ge=1, le=10000)
    # reports (-j -h), written by the driver when set
    json_report: str | None = None  # fastp -j
    html_report: str | None = None  # fastp -h
    report_title: str = "seqray qc report"
    command: str | None = None  # the command line shown in the reports

    @model_validator(mode="after")
    def _check(self):
        for key in ("adapter_sequence", "adapter_sequence_r2"):
            v = getattr(self, key)
            if v is not None and v.strip().lower() == AUTO:  # read 2: "auto" is as read 1
                object.__setattr__(self, key, AUTO if key == "adapter_sequence" else None)
            elif v is not None:
                v = v.strip().upper()
                if not v or not set(v) <= _ACGT:
                    raise ValueError(f"{key} must be a DNA sequence (A, C, G, T, N), got {v!r}")
                object.__setattr__(self, key, v)
        if self.umi:
            check_umi(self.umi_loc, self.umi_len, self.umi_prefix)
        if self.merge and not self.correction:  # fastp's merging mode turns -c on
            object.__setattr__(self, "correction", True)
        return self

    def kernel_params(self, poly_g: bool) -> np.ndarray:
        p = np.zeros(K.N_PARAMS, np.int64)
        p[K.P_FRONT1], p[K.P_TAIL1] = self.trim_front1, self.trim_tail1
        p[K.P_FRONT2] = self.trim_front1 if self.trim_front2 is None else self.trim_front2
        p[K.P_TAIL2] = self.trim_tail1 if self.trim_tail2 is None else self.trim_tail2
        w, q = self.cut_window_size, self.cut_mean_quality
        p[K.P_CUT5], p[K.P_CUT3], p[K.P_CUTR] = self.cut_front, self.cut_tail, self.cut_right
        p[K.P_W5] = self.cut_front_window_size or w
        p[K.P_Q5] = self.cut_front_mean_quality or q
        p[K.P_W3] = self.cut_tail_window_size or w
        p[K.P_Q3] = self.cut_tail_mean_quality or q
        p[K.P_WR] = self.cut_right_window_size or w
        p[K.P_QR] = self.cut_right_mean_quality or q
        p[K.P_POLYG], p[K.P_POLYG_MIN] = poly_g, self.poly_g_min_len
        p[K.P_POLYX], p[K.P_POLYX_MIN] = self.trim_poly_x, self.poly_x_min_len
        p[K.P_ADAPTER] = not self.disable_adapter_trimming
        p[K.P_MAXLEN1] = self.max_len1
        p[K.P_MAXLEN2] = self.max_len1 if self.max_len2 is None else self.max_len2
        p[K.P_QUAL_FILTER] = not self.disable_quality_filtering
        p[K.P_QUALIFIED] = self.qualified_quality_phred + 33
        p[K.P_UNQUAL_PCT] = self.unqualified_percent_limit
        p[K.P_AVG_QUAL] = self.average_qual
        p[K.P_N_LIMIT] = self.n_base_limit
        p[K.P_LEN_FILTER] = not self.disable_length_filtering
        p[K.P_LEN_REQUIRED] = self.length_required
        p[K.P_LEN_LIMIT] = self.length_limit
        p[K.P_COMPLEXITY] = self.low_complexity_filter
        p[K.P_COMPLEXITY_PCT] = self.complexity_threshold
        p[K.P_OV_REQUIRE] = self.overlap_len_require
        p[K.P_OV_DIFF] = self.overlap_diff_limit
        p[K.P_OV_DIFF_PCT] = self.overlap_diff_percent_limit
        p[K.P_INSERT_SIZES] = self.json_report is not None or self.html_report is not None
        p[K.P_CORRECT] = self.correction
        p[K.P_MERGE] = self.merge
        p[K.P_ADAPTER_TALLY] = p[K.P_INSERT_SIZES]  # reports: fastp's adapter counts
        return p


def _profile_class():
    try:
        from .profile import QcProfile
    except ImportError as e:  # helper B's module: reports need it
        raise ConfigError(f"qc: JSON/HTML reports are not available ({e})") from None
    return QcProfile


class QcTally:
    """Per input file: reads, raw bases and kept bases per reason code (a 32×3 table),
    plus, when reports are asked for, before/after-filtering profiles per mate, the insert
    size histogram (pairs), the duplicates seen [duplicates, reads (pairs)] and the
    overrepresented-sequence counts per mate."""

    def __init__(
        self,
        counts: dict | None = None,
        profiles: list | None = None,
        insert_sizes: np.ndarray | None = None,
        dups: np.ndarray | None = None,
        overrep: list[OverrepTally] | None = None,
        corrected: list[int] | None = None,
        adapters: dict[str, int] | None = None,
    ):
        self.counts: dict[str, np.ndarray] = counts or {}
        self.profiles = profiles  # [before1, after1] (+ [before2, after2] for pairs) or None
        self.insert_sizes = insert_sizes  # fastp's histogram, INSERT_SIZE_MAX + 1 slots
        self.dups = dups
        self.overrep = overrep
        self.corrected = corrected  # -c on pairs: [reads, bases]
        self.adapters = adapters  # single-end reports: what adapter trimming cut → reads

    def table(self, source: str) -> np.ndarray:
        t = self.counts.get(source)
        if t is None:
            t = self.counts[source] = np.zeros((N_CODES, 3), np.int64)
        return t

    def __iadd__(self, other: QcTally) -> QcTally:
        for k, v in other.counts.items():
            self.table(k)[:] += v
        if other.profiles is not None:
            mine = self.profiles if self.profiles is not None else []
            for i, prof in enumerate(other.profiles):
                if i >= len(mine):
                    mine.append(prof)
                else:
                    mine[i] += prof
            self.profiles = mine
        for name in ("insert_sizes", "dups"):
            theirs = getattr(other, name)
            if theirs is not None:
                mine_arr = getattr(self, name)
                setattr(self, name, theirs.copy() if mine_arr is None else mine_arr + theirs)
        if other.overrep is not None:
            if self.overrep is None:
                self.overrep = [OverrepTally() for _ in other.overrep]
            for a, b in zip(self.overrep, other.overrep):
                a += b
        if other.corrected is not None:
            mine_c = self.corrected or [0, 0]
            self.corrected = [a + b for a, b in zip(mine_c, other.corrected)]
        if other.adapters is not None:
            mine_a = self.adapters if self.adapters is not None else {}
            for piece, reads in other.adapters.items():
                mine_a[piece] = mine_a.get(piece, 0) + reads
            self.adapters = mine_a
        return self

    def to_json(self) -> dict:
        def arr(a):
            return None if a is None else a.tolist()

        return {
            "counts": {k: v.tolist() for k, v in self.counts.items()},
            "profiles": None if self.profiles is None else [p.to_json() for p in self.profiles],
            "insert_sizes": arr(self.insert_sizes),
            "dups": arr(self.dups),
            "overrep": None if self.overrep is None else [t.to_json() for t in self.overrep],
            "corrected": self.corrected,
            "adapters": self.adapters,
        }

    @classmethod
    def from_json(cls, d: dict) -> QcTally:
        counts = {k: np.asarray(v, np.int64) for k, v in d["counts"].items()}
        profiles = d.get("profiles")
        if profiles is not None:
            prof = _profile_class()
            profiles = [prof.from_json(p) for p in profiles]

        def arr(key):
            v = d.get(key)
            return None if v is None else np.asarray(v, np.int64)

        overrep = d.get("overrep")
        if overrep is not None:
            overrep = [OverrepTally.from_json(t) for t in overrep]
        return cls(
            counts, profiles, arr("insert_sizes"), arr("dups"), overrep, d.get("corrected"),
            d.get("adapters"),
        )  # fmt: skip


def accounting(t: np.ndarray) -> dict:
    """One file's (or the total's) accounting from its 32×3 reason table."""
    out = {"reads_in": int(t[:, 0].sum()), "bases_in": int(t[:, 1].sum())}
    for code, name in REASONS.items():
        out[name] = int(t[code, 0])
        out[name.replace("_reads", "_bases")] = int(t[code, 1])
    out["passed_filter_bases_out"] = int(t[PASSED, 2])
    return out


def first_read_name(uri: str) -> str | None:
    """The first good read's name (a bad record before it is the main pass's to report,
    or to skip under `on_error: skip`)."""
    chunks, _ = plan_chunks([uri])
    reader = open_chunk(chunks[0], ReadOptions(digest=False, lenient=True))
    for table in reader:
        if len(table):
            return table.column(NAME)[0].as_py()
    return None


def _binary(values: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(
        pa.large_binary(),
        len(offsets) - 1,
        [None, pa.py_buffer(offsets), pa.py_buffer(values)],
    )


@register
class QcStage(DuplicateMarking, MapStage):
    """Trims and filters reads as fastp does; drops failing reads (pairs) and, with
    `dedup`, later copies of a raw read (pair)."""

    name = "qc"
    Config = QcConfig
    config: QcConfig
    Accumulator = QcTally

    @staticmethod
    def summarize(report: dict) -> str:
        n, kept = report["reads_in"], report["passed_filter_reads"]
        reasons = ", ".join(
            f"{k.removesuffix('_reads').replace('_', ' ')} {v:,}"
            for k, v in report.items()
            if k.endswith("_reads") and k not in ("passed_filter_reads", "duplicated_reads") and v
        )
        dups = (
            f"; duplicates {report['duplicated_reads']:,}" if "duplicated_reads" in report else ""
        )
        return (
            f"{kept:,} of {n:,} reads passed ({kept / max(n, 1):.2%})"
            + (f"; filtered: {reasons}" if reasons else "")
            + dups
        )

    poly_g: bool | None = None  # resolved trim_poly_g (prepare), travels to the workers
    overrep: list[Candidates] | None = None  # per mate (prepare), travels to the workers
    adapter1: str | None = None  # read 1's adapter ("": none), detected in prepare if "auto"
    detected: DetectedAdapter | None = None  # what detection found (prepare), for the report

    def __init__(self, config: QcConfig):
        super().__init__(config)
        self.poly_g = config.trim_poly_g
        if config.adapter_sequence != AUTO:
            self.adapter1 = config.adapter_sequence or ""
        elif config.disable_adapter_trimming:
            self.adapter1 = ""
        self._params: np.ndarray | None = None

    def reports_wanted(self) -> bool:
        return self.config.json_report is not None or self.config.html_report is not None

    def marks_duplicates(self) -> bool:
        """Duplicates are marked to drop them (--dedup) or to report their rate (fastp
        evaluates duplication whenever it reports, unless --dont_eval_duplication)."""
        c = self.config
        return c.dedup or (self.reports_wanted() and not c.dont_eval_duplication)

    def overrep_wanted(self) -> bool:
        return self.config.overrepresentation_analysis and self.reports_wanted()

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        c = self.config
        if c.merge and not paired:  # checked here, before the first read
            raise ConfigError(f"{label}: merge needs paired reads (fastp's -m needs --in2)")
        if c.merge and MERGED not in self.taken:
            raise ConfigError(f"{label}: merge needs a `write` stage with `branch: merged`")
        return [Target(p, "file", label) for p in (c.json_report, c.html_report) if p]

    def needs_prepare(self) -> bool:
        return (
            self.marks_duplicates()
            or self.config.trim_poly_g is None
            or self.overrep_wanted()
            or self.adapter1 is None
        )

    def prepare(self, ctx: PrepareContext) -> None:
        if self.config.trim_poly_g is None:
            name = first_read_name(ctx.source_order[0]) if ctx.source_order else None
            self.poly_g = bool(name and name.startswith(TWO_COLOR_PREFIXES))
        if self.overrep_wanted() and ctx.source_order:
            mate = ctx.mate_order[0] if ctx.mate_order else None
            self.overrep = overrep_candidates(ctx.source_order[0], mate, ctx.read_options)
        if self.adapter1 is None:  # fastp: detected for single-end reads only
            paired = bool(ctx.mate_order and ctx.mate_order[0])
            if paired or not ctx.source_order:
                self.adapter1 = ""
            else:
                self.detected = detect_adapter(
                    ctx.source_order[0], ctx.read_options, self.config.trim_tail1
                )
                self.adapter1 = self.detected.sequence
        if self.marks_duplicates():
            super().prepare(ctx)

    def params(self) -> np.ndarray:
        if self._params is None:
            if self.poly_g is None:
                raise ConfigError("qc: poly-G detection did not run (prepare was skipped)")
            self._params = self.config.kernel_params(self.poly_g)
        return self._params

    def _adapter(self, r2: bool) -> np.ndarray:
        seq = self.adapter1
        if seq is None:
            raise ConfigError("qc: adapter detection did not run (prepare was skipped)")
        if r2 and self.config.adapter_sequence_r2 is not None:
            seq = self.config.adapter_sequence_r2
        return np.frombuffer((seq or "").encode(), np.uint8)

    def new_accumulator(self) -> QcTally:
        if not self.reports_wanted():
            return QcTally()
        prof = _profile_class()
        return QcTally(
            profiles=[prof(), prof()],
            dups=np.zeros(2, np.int64) if self.marks_duplicates() else None,
            overrep=[OverrepTally() for _ in self.overrep] if self.overrep else None,
            adapters={},
        )

    def transform(self, table: pa.Table, acc: QcTally, chunk) -> pa.Table | Routed:
        if table.column(QUAL).null_count:
            raise InputError(f"{chunk.source}: qc needs qualities (FASTQ, BAM), not FASTA")
        p = self.params()
        n = len(table)
        c = self.config
        seen = self.duplicate_mask(table, chunk) if self.marks_duplicates() else None
        dup = seen if seen is not None and self.config.dedup else np.zeros(n, bool)
        if acc.dups is not None and seen is not None:
            acc.dups += (int(seen.sum()), n)
        raw = table  # the reads as read: duplicates and "before filtering" statistics
        if c.umi and c.umi_loc is not None:
            table = apply_umi(table, c.umi_loc, c.umi_len, c.umi_prefix, c.umi_skip)
        s1, o1 = values_offsets(table.column(SEQ))
        q1, _ = values_offsets(table.column(QUAL))
        _, raw1 = values_offsets(raw.column(SEQ))
        paired = SEQ2 in table.column_names
        merging: Merging | None = None  # pairs with -m
        if c.merge and not paired:
            raise ConfigError(f"{chunk.source}: merging (-m) needs paired reads")
        if paired:
            s2, o2 = values_offsets(table.column(SEQ2))
            q2, _ = values_offsets(table.column(QUAL2))
            if self.config.correction:  # corrected bases go into copies of the buffers
                s1, q1, s2, q2 = (np.array(a) for a in (s1, q1, s2, q2))
            st1, en1, st2, en2, reason, why1, why2, fixed, isize, both = K.qc_paired(
                s1, q1, o1, s2, q2, o2, dup, p,
                self._adapter(False), self._adapter(True), complement_table(),
            )  # fmt: skip
            keep = reason == PASSED
            if acc.profiles is not None:
                sizes = np.bincount(isize[isize >= 0], minlength=K.INSERT_SIZE_MAX + 1)
                sizes = sizes.astype(np.int64)  # a chunk's batches add up
                acc.insert_sizes = sizes if acc.insert_sizes is None else acc.insert_sizes + sizes
            # the accounting counts raw bases: the reads as read, before UMI processing
            _, raw2 = values_offsets(raw.column(SEQ2))
            windows = (s1, q1, st1, en1, s2, q2, st2, en2)
            t1, t2, e1, e2 = reason, reason, en1, en2
            if c.merge:  # a duplicate that merges counts (and is written) too, as fastp
                merging = Merging.of(windows, both, p, c.include_unmerged, complement_table())
                t1, e1, t2, e2 = merging.mate_outcomes(reason, why1, why2, windows)
                keep &= merging.kind == AS_PAIR
            K.tally(t1, raw1, st1, e1, acc.table(chunk.source))
            K.tally(t2, raw2, st2, e2, acc.table(chunk.mate or chunk.source + "#2"))
            if self.config.correction:
                acc += QcTally(corrected=fixed.tolist())
        else:
            adapter = self._adapter(False)
            st1, en1, reason, cut_at, cut_len = K.qc_single(s1, q1, o1, dup, p, adapter)
            if acc.adapters is not None:
                acc += QcTally(adapters=cut_pieces(s1, adapter, cut_at, cut_len))
            K.tally(reason, raw1, st1, en1, acc.table(chunk.source))
            keep = reason == PASSED
        idx = numeric_array(np.flatnonzero(keep).astype(np.int64))
        mates = [(SEQ, QUAL, s1, q1, st1, en1)]
        if paired:
            mates.append((SEQ2, QUAL2, s2, q2, st2, en2))
        new_cols = {}
        for sc, qc, sv, qv, st, en in mates:
            sv2, off = K.gather(sv, st, en, keep)
            qv2, _ = K.gather(qv, st, en, keep)
            new_cols[sc], new_cols[qc] = _binary(sv2, off), _binary(qv2, off)
        branches = {}
        if merging is not None:
            branches[MERGED] = merging.reads(table, why1, why2, windows)
        if acc.profiles is not None:
            self._profile(raw, new_cols, paired, acc, branches.get(MERGED))
        if acc.overrep is not None and n:
            self._overrep(raw, new_cols, acc.overrep, chunk, branches.get(MERGED))
        out = table.take(idx) if int(keep.sum()) != n else table
        for name, col in new_cols.items():
            i = out.schema.get_field_index(name)
            out = out.set_column(i, out.schema.field(i), col)  # keeps the declared field
        if FAILED in self.taken:
            if paired:
                pairs = merging.kind == AS_PAIR if merging is not None else None
                branches[FAILED] = failed_pairs(table, reason, why1, why2, windows, pairs)
            else:
                branches[FAILED] = failed_reads(table, reason, (s1, q1, st1, en1))
        return Routed(out, branches) if branches else out

    def branches(self) -> tuple[str, ...]:
        return (FAILED, MERGED)

    def branch_schema(self, name: str, schema: pa.Schema) -> pa.Schema:
        return unpaired(schema)

    def _profile(self, raw, new_cols, paired, acc, merged=None) -> None:
        """Before filtering: every raw read, duplicates included, before UMI processing,
        as in fastp; after: the reads kept (when merging, as fastp: only the merged
        file's reads, as read 1's)."""
        if paired and len(acc.profiles) == 2:
            acc.profiles += [type(acc.profiles[0])(), type(acc.profiles[0])()]
        acc.profiles[0].add(raw.column(SEQ), raw.column(QUAL))
        if merged is not None:
            acc.profiles[1].add(merged.column(SEQ), merged.column(QUAL))
        else:
            acc.profiles[1].add(new_cols[SEQ], new_cols[QUAL])
        if paired:
            acc.profiles[2].add(raw.column(SEQ2), raw.column(QUAL2))
            if merged is None:
                acc.profiles[3].add(new_cols[SEQ2], new_cols[QUAL2])

    def _overrep(self, table, new_cols, tallies: list[OverrepTally], chunk, merged=None) -> None:
        """Candidate hits of the sampled raw reads, and of every passed read by rank
        (when merging, as fastp: read 1's "after" are the merged file's reads)."""
        assert self.overrep is not None
        sampling = self.config.overrepresentation_sampling
        record = table.column(RECORD).to_numpy()
        sampled = np.flatnonzero(record % sampling == 0)
        key = (chunk.source, int(record[0]))
        for cands, tally, col in zip(self.overrep, tallies, (SEQ, SEQ2)):
            c = len(cands)
            sv, so = values_offsets(table.column(col))
            _, hit = cands.hits(sv, so, sampled)
            tally.add_before(hit, c)
            after = merged.column(SEQ) if merged is not None and col == SEQ else new_cols[col]
            sv, so = values_offsets(after)
            passed = len(so) - 1
            rank, hit = cands.hits(sv, so, np.arange(passed))
            tally.add_after(key, passed, rank, hit, sampling, c)

    def finish(self, acc: QcTally, ctx: FinishContext) -> dict:
        order = [f for f in ctx.input_order if f in acc.counts]
        order += [f for f in acc.counts if f not in order]
        total = np.zeros((N_CODES, 3), np.int64)
        files = {}
        for f in order:
            files[f] = accounting(acc.counts[f])
            total += acc.counts[f]
        report = {**accounting(total), "poly_g_trimming": bool(self.poly_g), "files": files}
        if self.detected is not None:  # single-end adapter detection ran (fastp's default)
            report["adapter_detected"] = self.detected.to_json()
        reads = report["reads_in"]
        report["duplication_rate"] = report["duplicated_reads"] / reads if reads else 0.0
        if acc.corrected is not None:  # -c on pairs (fastp's counters)
            report["correction"] = dict(zip(("corrected_reads", "corrected_bases"), acc.corrected))
        if acc.profiles is not None and (self.config.json_report or self.config.html_report):
            for f in self._write_reports(acc, report, ctx.input_order):
                ctx.record(f)
        return report

    def _write_reports(self, acc: QcTally, report: dict, input_order: list[str]) -> list:
        from .report_html import write_html_report
        from .report_json import fastp_report, write_json_report

        assert acc.profiles is not None  # finish writes reports only with profiles
        before, after = acc.profiles[0::2], acc.profiles[1::2]
        if self.config.merge:  # fastp: only the merged file's reads, as one section
            after = after[:1]
        skip = {REASONS[DUPLICATED]}
        if not self.config.low_complexity_filter:  # fastp lists it only with -y
            skip.add(REASONS[LOW_COMPLEXITY])
        filtering = {k: report[k] for k in REASONS.values() if k not in skip}
        if "correction" in report:  # fastp lists them after the passed reads
            passed = filtering.pop(REASONS[PASSED])
            filtering = {REASONS[PASSED]: passed, **report["correction"], **filtering}
        dup_rate = None
        if acc.dups is not None:
            dup_rate = acc.dups[0] / acc.dups[1] if acc.dups[1] else 0.0
        command = self.config.command or "seqray run (stage qc)"
        overrep = None
        if acc.overrep is not None and self.overrep is not None:
            overrep = self._overrep_sections(acc.overrep, input_order)
        insert = None
        if len(before) == 2:
            hist = acc.insert_sizes
            insert = hist if hist is not None else np.zeros(K.INSERT_SIZE_MAX + 1, np.int64)
        extra: dict = {"seqray": report}
        if len(before) == 1 and self.adapter1 and not self.config.disable_adapter_trimming:
            # fastp writes it for single-end reads with an adapter (given or detected)
            extra = {"adapter_cutting": adapter_cutting(acc.adapters or {}, self.adapter1), **extra}
        doc = fastp_report(
            before, after, filtering, dup_rate, command, extra,
            insert_sizes=insert, overrepresented=overrep, merged=self.config.merge,
        )  # fmt: skip
        written = []
        if self.config.json_report:
            written.append(write_json_report(doc, self.config.json_report))
        if self.config.html_report:
            written.append(write_html_report(doc, self.config.html_report))
        return written

    def _overrep_sections(self, tallies: list[OverrepTally], input_order: list[str]):
        """fastp's `overrepresented_sequences` per mate: [[before, after] per mate]."""
        from .overrep import report_section

        assert self.overrep is not None
        sampling = self.config.overrepresentation_sampling
        out = []
        for cands, tally in zip(self.overrep, tallies):
            c = len(cands)
            before = tally.before_counts(c)
            after = tally.after_counts(input_order, c, sampling)
            out.append(
                [
                    report_section(cands.seqs, before, sampling),
                    report_section(cands.seqs, after, sampling),
                ]
            )
        return out


def _sequences(uri: str, mate: str | None, options: ReadOptions | None) -> Iterator[pa.Table]:
    """Read 1's (or with `mate`, both mates') reads from the start of the file(s), whatever
    the run's chunking, normalised as the run's `options` say (whether '.' stays). Only
    sequences are used: qualities are read as Phred+33, which accepts any."""
    chunks, _ = plan_chunks([uri], [mate] if mate else None, chunk_bytes=1 << 62, phred_offset=33)
    opts = replace(options or ReadOptions(), digest=False, lenient=True)
    return iter(open_chunk(chunks[0], opts))


def detect_adapter(uri: str, options: ReadOptions | None, trim_tail: int) -> DetectedAdapter:
    """fastp's single-end adapter detection on the first reads of `uri` (fastp reads one
    file), read as the run reads them."""
    batches = (values_offsets(t.column(SEQ)) for t in _sequences(uri, None, options))
    values, offsets = adapter_detect.first_reads(batches)
    return adapter_detect.detect_adapter(values, offsets, trim_tail)


def overrep_candidates(
    uri: str, mate: str | None, options: ReadOptions | None = None
) -> list[Candidates]:
    """fastp's candidate overrepresented sequences of read 1 (and read 2 of pairs), from
    the first reads of the first input file (fastp reads one)."""
    out = []
    for col in (SEQ, SEQ2):
        tables = _sequences(uri, mate, options)
        first = next(tables, None)
        if first is None or col not in first.column_names:
            break
        batches = (values_offsets(t.column(col)) for t in itertools.chain([first], tables))
        values, offsets, seqlen = first_reads(batches)
        out.append(Candidates(list(find_candidates(values, offsets, seqlen)), seqlen))
    return out
