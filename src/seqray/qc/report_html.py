"""Self-contained HTML QC report, rendered from the fastp-structured JSON report alone.

Inline CSS and inline SVG (`svgplot`), no script and no external resource: the file opens
offline, in a mail attachment or from object storage. Rendering depends only on the report
dict, so a saved JSON report can be re-rendered later (`render_html(json.load(f))`).
"""

from __future__ import annotations

import json
import math
from html import escape

from ..io.writers import WrittenFile, write_file
from .svgplot import bar_chart, hbar_chart, line_chart

COLOURS = {
    "A": "#2f9e44",
    "T": "#d6336c",
    "C": "#1c7ed6",
    "G": "#f08c00",
    "N": "#868e96",
    "GC": "#7048e8",
    "mean": "#212529",
}
FILTER_COLOURS = ["#2f9e44", "#e8590c", "#c2255c", "#1971c2", "#6741d9", "#0c8599", "#868e96"]
KNOWN_KEYS = {
    "summary",
    "filtering_result",
    "duplication",
    "insert_size",
    "command",
    "merged_and_filtered",  # -m: the merged reads, shown as read 1 after filtering
}
MAX_LENGTH_BARS = 200

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#212529;
background:#f5f6f8}
header{background:#1d3557;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85;font-size:13px}
main{max-width:1260px;margin:0 auto;padding:12px 24px 40px}
section{background:#fff;border:1px solid #dee2e6;border-radius:6px;margin:16px 0;
padding:12px 18px}
h2{font-size:17px;margin:4px 0 10px;color:#1d3557}
h3{font-size:14px;margin:14px 0 6px;color:#495057}
table{border-collapse:collapse;font-size:13px}
td,th{padding:4px 14px 4px 0;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child,.general td{text-align:left}
th{color:#495057;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:8px 18px}
.figure svg{max-width:100%;height:auto}
code{font-size:12px;background:#f1f3f5;padding:2px 5px;border-radius:3px;word-break:break-all}
pre{font-size:11px;background:#f8f9fa;padding:8px;overflow:auto;max-height:320px}
.note{font-size:12px;color:#6c757d}
table.kmer{font-size:10px;font-family:ui-monospace,monospace}
table.kmer td{padding:1px 3px;text-align:center;border:none}
table.orep td:first-child{font-family:ui-monospace,monospace;font-size:11px;
word-break:break-all;max-width:520px}
"""


def _int(v) -> str:
    return f"{int(v):,}"


def _pct(num: float, den: float) -> str:
    return f"{100 * num / den:.2f}%" if den else "-"


def _summary_table(summary: dict) -> str:
    before, after = summary.get("before_filtering", {}), summary.get("after_filtering", {})
    rows = [
        ("total reads", "total_reads", _int),
        ("total bases", "total_bases", _int),
        ("Q20 bases", "q20_bases", None),
        ("Q30 bases", "q30_bases", None),
        ("GC content", "gc_content", lambda v: f"{100 * v:.2f}%"),
        ("read 1 mean length", "read1_mean_length", _int),
        ("read 2 mean length", "read2_mean_length", _int),
    ]
    out = ["<table><tr><th></th><th>before filtering</th><th>after filtering</th></tr>"]
    for label, key, fmt in rows:
        if key not in before:
            continue
        cells = []
        for d in (before, after):
            v = d.get(key, 0)
            if fmt is None:
                cells.append(f"{_int(v)} ({_pct(v, d.get('total_bases', 0))})")
            else:
                cells.append(fmt(v))
        out.append(f"<tr><td>{label}</td><td>{cells[0]}</td><td>{cells[1]}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _filtering(report: dict) -> str:
    result = {
        k: v
        for k, v in report.get("filtering_result", {}).items()
        if _is_num(v) and not k.startswith("corrected_")  # -c's counters: not outcomes
    }
    total = sum(result.values())
    items = [
        (k.replace("_", " "), v, FILTER_COLOURS[i % len(FILTER_COLOURS)])
        for i, (k, v) in enumerate(result.items())
    ]
    chart = hbar_chart(items, title="Filtering result (reads)", total=total)
    return f"<section id='filtering'><h2>Filtering</h2><div class='figure'>{chart}</div></section>"


def _duplication(report: dict) -> str:
    dup = report.get("duplication")
    if not isinstance(dup, dict) or not _is_num(dup.get("rate")):
        return ""
    rate = float(dup["rate"])
    parts = [
        hbar_chart(
            [("duplicated", 100 * rate, "#e8590c"), ("unique", 100 * (1 - rate), "#2f9e44")],
            title=f"Duplication rate: {100 * rate:.2f}%",
            total=100,
            value_format="{:.2f}%",
        )
    ]
    hist = dup.get("histogram")
    if isinstance(hist, list) and any(hist):
        parts.append(
            bar_chart(
                list(range(1, len(hist) + 1)),
                hist,
                title="Duplication level",
                xlabel="copies",
                ylabel="reads",
            )
        )
    figs = "".join(f"<div class='figure'>{p}</div>" for p in parts)
    return f"<section id='duplication'><h2>Duplication</h2><div class='grid'>{figs}</div></section>"


def _insert_size(report: dict) -> str:
    ins = report.get("insert_size")
    if not isinstance(ins, dict) or not isinstance(ins.get("histogram"), list):
        return ""
    hist = ins["histogram"]
    unknown = ins.get("unknown", 0)
    known = sum(hist)
    chart = bar_chart(
        list(range(len(hist))),
        hist,
        title=f"Insert size (peak {ins.get('peak', 0)})",
        xlabel="insert size",
        ylabel="pairs",
        xmin=0,
    )
    note = (
        f"<p class='note'>Estimated from the overlap of the mates: {_int(known)} pairs; "
        f"{_int(unknown)} ({_pct(unknown, known + unknown)}) without an overlap, or with "
        f"an insert of {len(hist)} bases or more, are not shown.</p>"
    )
    return (
        f"<section id='insert_size'><h2>Insert size</h2>{note}"
        f"<div class='figure'>{chart}</div></section>"
    )


def _kmer_table(counts: dict, stage: str) -> str:
    """fastp's 5-mer table: rows by the first three bases, columns by the last two; the
    blue deepens from half the mean count (white) to four times the mean."""
    if not counts:
        return ""
    mean = max(sum(counts.values()), 1) / len(counts)
    names = list(counts)
    heads = [n[3:] for n in names[:16]]
    rows = ["<tr><td></td>" + "".join(f"<td>{h}</td>" for h in heads) + "</tr>"]
    for i in range(0, len(names), 16):
        cells = []
        for n in names[i : i + 16]:
            v = counts[n]
            prop = v / mean
            t = min(1.0, max(0.0, (math.log2(max(prop, 1e-9)) + 1) / 3))
            rgb = ",".join(str(round(255 + (c - 255) * t)) for c in (28, 126, 214))
            ink = "#fff" if t > 0.6 else "#212529"
            cells.append(
                f"<td style='background:rgb({rgb});color:{ink}' "
                f"title='{n}: {v:,} ({prop:.2f}× the mean)'>{n[3:]}</td>"
            )
        rows.append(f"<tr><td>{names[i][:3]}</td>{''.join(cells)}</tr>")
    return (
        f"<div><h3>5-mer counts ({stage})</h3><table class='kmer'>{''.join(rows)}</table>"
        "<p class='note'>Rows: first three bases; columns: last two. White: half the mean "
        "count or less; darkest blue: four times the mean or more. Hover for counts.</p></div>"
    )


def _overrep_table(seqs: dict | None, stage: str) -> str:
    if seqs is None:
        return ""
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{_int(v)}</td></tr>"
        for k, v in sorted(seqs.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    body = rows or "<tr><td colspan='2'>none found</td></tr>"
    return (
        f"<div><h3>Overrepresented sequences ({stage})</h3><table class='orep'>"
        f"<tr><th>sequence</th><th>sampled count</th></tr>{body}</table></div>"
    )


def _length_bars(hist: dict) -> tuple[list[int], list[int]]:
    pairs = sorted((int(k), int(v)) for k, v in hist.items())
    if not pairs:
        return [], []
    lo, hi = pairs[0][0], pairs[-1][0]
    width = max(1, -(-(hi - lo + 1) // MAX_LENGTH_BARS))
    if width == 1:
        return [k for k, _ in pairs], [v for _, v in pairs]
    bins: dict[int, int] = {}
    for k, v in pairs:
        start = lo + (k - lo) // width * width
        bins[start] = bins.get(start, 0) + v
    xs = sorted(bins)
    return [x + (width - 1) // 2 for x in xs], [bins[x] for x in xs]


def _quality_top(sections: list[dict]) -> float:
    """One quality scale for before and after, so the two plots compare at a glance."""
    top = [v for s in sections for v in s.get("quality_curves", {}).get("mean", [])]
    top += [v for s in sections for k in "ATCG" for v in s.get("quality_curves", {}).get(k, [])]
    return max(top, default=40.0)


def _mate_figures(section: dict, stage: str, qual_top: float) -> list[str]:
    cycles = section.get("total_cycles", 0)
    xs = list(range(1, cycles + 1))
    figs = []
    q = section.get("quality_curves")
    if q:
        figs.append(
            line_chart(
                xs,
                [(k, COLOURS[k], q[k]) for k in ("A", "T", "C", "G", "mean") if k in q],
                title=f"Quality per position ({stage})",
                xlabel="position",
                ylabel="mean Phred quality",
                ylo=0,
                yhi=qual_top,
            )
        )
    c = section.get("content_curves", {})
    figs.append(
        line_chart(
            xs,
            [
                (k, COLOURS[k], [100 * v for v in c[k]])
                for k in ("A", "T", "C", "G", "N", "GC")
                if k in c
            ],
            title=f"Base content per position ({stage})",
            xlabel="position",
            ylabel="% of bases",
            ylo=0,
            value_format="{:.1f}%",
        )
    )
    lx, ly = _length_bars(section.get("length_histogram", {}))
    figs.append(
        bar_chart(lx, ly, title=f"Read length ({stage})", xlabel="length", ylabel="reads", xmin=0)
    )
    qh = section.get("quality_histogram")
    if qh is not None:
        colours = [
            "#e03131" if i < 20 else "#f59f00" if i < 30 else "#2f9e44" for i in range(len(qh))
        ]
        figs.append(
            bar_chart(
                list(range(len(qh))),
                qh,
                title=f"Base quality histogram ({stage})",
                xlabel="Phred quality",
                ylabel="bases",
                colours=colours,
            )
        )
    return figs


def _mate_section(report: dict, mate: int) -> str:
    before = report.get(f"read{mate}_before_filtering")
    after = report.get(f"read{mate}_after_filtering")
    if mate == 1 and after is None:  # -m: fastp's section of the merged reads
        after = report.get("merged_and_filtered")
    if before is None:
        return ""
    top = _quality_top([s for s in (before, after) if s])
    cols = [_mate_figures(before, "before filtering", top)]
    if after is not None:
        cols.append(_mate_figures(after, "after filtering", top))
    rows = []
    for i in range(len(cols[0])):
        for col in cols:
            if i < len(col):
                rows.append(f"<div class='figure'>{col[i]}</div>")
    sections = [("before filtering", before), ("after filtering", after)]
    for key, make in (
        ("overrepresented_sequences", _overrep_table),
        ("kmer_count", _kmer_table),
    ):
        for stage, sec in sections:
            if sec is not None and key in sec:
                rows.append(make(sec[key], stage))
    return (
        f"<section id='read{mate}'><h2>Read {mate}</h2>"
        f"<p class='note'>{_int(before.get('total_reads', 0))} reads before filtering, "
        f"{_int(after.get('total_reads', 0)) if after else '-'} after; hover a plot for "
        f"values.</p><div class='grid'>{''.join(rows)}</div></section>"
    )


def _extras(report: dict) -> str:
    keys = [k for k in report if k not in KNOWN_KEYS and not k.startswith(("read1_", "read2_"))]
    if not keys:
        return ""
    parts = [
        f"<details><summary>{escape(k)}</summary><pre>"
        f"{escape(json.dumps(report[k], indent=1))}</pre></details>"
        for k in keys
    ]
    return f"<section id='details'><h2>Details</h2>{''.join(parts)}</section>"


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def render_html(report: dict) -> str:
    """The whole report as one HTML document (a str)."""
    summary = report.get("summary", {})
    before = summary.get("before_filtering", {})
    after = summary.get("after_filtering", {})
    dup = report.get("duplication", {})
    general = [
        ("produced by", escape(str(summary.get("fastp_version", "")))),
        ("sequencing", escape(str(summary.get("sequencing", "")))),
        (
            "reads passing filters",
            f"{_int(after.get('total_reads', 0))} of {_int(before.get('total_reads', 0))} "
            f"({_pct(after.get('total_reads', 0), before.get('total_reads', 0))})",
        ),
    ]
    if isinstance(dup, dict) and _is_num(dup.get("rate")):
        general.append(("duplication rate", f"{100 * dup['rate']:.2f}%"))
    general.append(("command", f"<code>{escape(str(report.get('command', '')))}</code>"))
    general_rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in general)
    body = [
        "<header><h1>seqray QC report</h1>"
        f"<p>{escape(str(summary.get('sequencing', '')))}</p></header><main>",
        "<section id='summary'><h2>Summary</h2><div class='grid'>"
        f"<div><h3>General</h3><table class='general'>{general_rows}</table></div>"
        f"<div><h3>Before and after filtering</h3>{_summary_table(summary)}</div>"
        "</div></section>",
        _filtering(report),
        _duplication(report),
        _insert_size(report),
        _mate_section(report, 1),
        _mate_section(report, 2),
        _extras(report),
        "</main>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<title>seqray QC report</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_html_report(report: dict, uri: str) -> WrittenFile:
    """Writes the HTML report atomically (local path or s3://)."""
    return write_file(uri, render_html(report).encode())
