"""The self-contained HTML report: every plot present with data, its marks drawn at the
report's numbers (read back through the plot's own axis labels), nothing fetched from the
network, and (headless Chromium) no console errors, plots laid out, a screenshot saved."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from seqray.io.buffers import values_offsets
from seqray.io.readers import open_chunk
from seqray.io.sources import plan_chunks
from seqray.qc.profile import QcProfile
from seqray.qc.report_html import render_html, write_html_report
from seqray.qc.report_json import fastp_report
from tests.peers import require_tool
from tests.qc.test_profile import batch


class Figures(HTMLParser):
    """Each <svg class='plot'>: its attributes and how many data marks it holds; plus
    every attribute that could load something (src, href) and any <script>."""

    def __init__(self, text: str):
        super().__init__()
        self.plots: list[dict] = []
        self.loads: list[str] = []
        self.scripts = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and a.get("class") == "plot":
            self.plots.append({**a, "marks": 0})
        elif "mark" in (a.get("class") or "").split() and self.plots:
            self.plots[-1]["marks"] += 1
        self.loads += [v for k, v in attrs if k in ("src", "href", "xlink:href") and v]
        self.scripts += tag == "script"


def real_pair_report() -> dict:
    """Before: the bundled real HiSeq pairs; after: pairs whose mates both have ≤ 40% of
    bases below Q15 (a fastp-like filter, done here with NumPy)."""
    data = Path(__file__).resolve().parents[2] / "examples" / "data"
    chunks, _ = plan_chunks([str(data / "real_R1.fastq.gz")], [str(data / "real_R2.fastq.gz")])
    before, after = [QcProfile(), QcProfile()], [QcProfile(), QcProfile()]
    for t in open_chunk(chunks[0]):
        keep = np.ones(len(t), bool)
        for m, (s, q) in enumerate((("seq", "qual"), ("seq2", "qual2"))):
            before[m].add(t.column(s), t.column(q))
            v, o = values_offsets(t.column(q))
            low = np.add.reduceat((v < 33 + 15).astype(np.int64), o[:-1]) if len(v) else 0
            keep &= low <= 0.4 * np.diff(o)
        kept = t.filter(pa.array(keep))
        for m, (s, q) in enumerate((("seq", "qual"), ("seq2", "qual2"))):
            after[m].add(kept.column(s), kept.column(q))
    passed = 2 * after[0].reads
    filtering = {
        "passed_filter_reads": passed,
        "low_quality_reads": 2 * before[0].reads - passed,
        "too_many_N_reads": 0,
        "too_short_reads": 0,
        "too_long_reads": 0,
    }
    extra = {"insert_size": {"peak": 126, "unknown": 3, "histogram": [0, 1, 2]}}
    cmd = "seqray qc -i real_R1.fastq.gz -I real_R2.fastq.gz -o out"
    return fastp_report(before, after, filtering, 0.0123, cmd, extra)


@pytest.fixture(scope="module")
def report() -> dict:
    return real_pair_report()


def test_every_plot_is_present_with_data(report):
    fig = Figures(render_html(report))
    kinds = [p["data-kind"] for p in fig.plots]
    # per mate and stage: quality, content, length, quality histogram; + filtering, dup,
    # insert size
    assert kinds.count("line") == 2 * 2 * 2
    assert kinds.count("bar") == 2 * 2 * 2 + 1
    assert kinds.count("hbar") == 2
    for p in fig.plots:
        assert int(p["data-points"]) > 0 and p["marks"] > 0, p["aria-label"]
    labels = [p["aria-label"] for p in fig.plots]
    assert "Quality per position (after filtering)" in labels
    assert "Duplication rate: 1.23%" in labels
    assert "Insert size (peak 126)" in labels
    assert fig.scripts == 0 and fig.loads == []  # nothing to run, nothing to fetch


# -- plotted values -------------------------------------------------------------------------
# A mark's value is read back through the axis a reader sees: two labelled gridlines (y)
# or ticks (x) give the pixel → value map; the report's numbers must come out.

Y_TICK = re.compile(
    r"<line x1='[\d.]+' x2='[\d.]+' y1='([\d.]+)' y2='\1' stroke='#e4e4e4'/>"
    r"<text [^>]*>([^<]+)</text>"
)
X_TICK = re.compile(
    r"<line x1='([\d.]+)' x2='\1' y1='[\d.]+' y2='[\d.]+' stroke='#555'/>"
    r"<text [^>]*>([^<]+)</text>"
)
POLYLINE = re.compile(r"<polyline class='mark' data-series='([^']*)' points='([^']*)'")
BAR = re.compile(
    r"<rect class='mark' x='([-\d.]+)' y='([-\d.]+)' width='([\d.]+)' height='([\d.]+)'"
    r"[^>]*><title>([^<]*)</title>"
)


def svg_plots(text: str) -> dict[str, list[str]]:
    """The SVG text of the plots with each aria-label, in page order (read 1's, read 2's)."""
    out: dict[str, list[str]] = {}
    for m in re.finditer(r"<svg class='plot'[^>]*aria-label='([^']*)'.*?</svg>", text, re.S):
        out.setdefault(m.group(1), []).append(m.group(0))
    return out


def label_value(text: str) -> float:
    """An axis label as a number: '1.5k' → 1500, '2M' → 2e6."""
    scale = {"k": 1e3, "M": 1e6}.get(text[-1], 1)
    return float(text[:-1] if scale != 1 else text) * scale


def axis(ticks: list[tuple[str, str]]):
    """pixel → value through the first and last labelled ticks, and value per pixel."""
    (p0, v0), (p1, v1) = [(float(p), label_value(v)) for p, v in (ticks[0], ticks[-1])]
    per_px = (v1 - v0) / (p1 - p0)
    return (lambda px: v0 + (px - p0) * per_px), abs(per_px)


def test_line_plots_draw_the_report_curves(report):
    plots = svg_plots(render_html(report))
    checked = 0
    for mate in (1, 2):
        for stage in ("before", "after"):
            section = report[f"read{mate}_{stage}_filtering"]
            for label, curves, scale in (
                (f"Quality per position ({stage} filtering)", "quality_curves", 1),
                (f"Base content per position ({stage} filtering)", "content_curves", 100),
            ):
                svg = plots[label][mate - 1]
                y_of, y_px = axis(Y_TICK.findall(svg))
                x_of, _ = axis(X_TICK.findall(svg))
                lines = POLYLINE.findall(svg)
                assert [name for name, _ in lines] == list(section[curves])
                for name, points in lines:
                    want = section[curves][name]
                    pts = [tuple(map(float, p.split(","))) for p in points.split()]
                    assert len(pts) == len(want) == section["total_cycles"], (label, name)
                    xs = [x_of(px) for px, _ in pts]
                    assert max(abs(x - (i + 1)) for i, x in enumerate(xs)) < 0.05, (label, name)
                    err = max(abs(y_of(py) - scale * v) for (_, py), v in zip(pts, want))
                    # points and gridlines are drawn to 0.1 px
                    assert err <= 0.2 * y_px, (label, name, err)
                    checked += 1
    assert checked == 2 * 2 * (5 + 6)


def test_bar_plots_draw_the_report_histograms(report):
    plots = svg_plots(render_html(report))
    section = report["read2_after_filtering"]
    for label, want in (
        (
            "Read length (after filtering)",
            {int(k): v for k, v in section["length_histogram"].items()},
        ),
        (
            "Base quality histogram (after filtering)",
            {q: n for q, n in enumerate(section["quality_histogram"]) if n},
        ),
    ):
        svg = plots[label][1]  # read 2's
        y_of, y_px = axis(Y_TICK.findall(svg))
        x_of, _ = axis(X_TICK.findall(svg))
        bars = BAR.findall(svg)
        assert len(bars) == len(want) >= 1, label
        got = {}
        for x, y, w, h, title in bars:
            centre = x_of(float(x) + float(w) / 2 + 0.3)  # bars are drawn 0.6 px narrower
            top = y_of(float(y))
            bottom = y_of(float(y) + float(h))
            at = round(centre)
            assert abs(centre - at) < 0.1 and abs(bottom) <= y_px, (label, x, bottom)
            # the bar's height and its hover title both give the report's count
            assert abs(top - want[at]) <= 0.2 * y_px, (label, at, top, want[at])
            assert title.endswith(f" {at}: {want[at]:,}"), title
            got[at] = want[at]
        assert got == want


def test_filtering_bars_are_proportional_to_the_counts(report):
    [svg] = svg_plots(render_html(report))["Filtering result (reads)"]
    bars = BAR.findall(svg)
    result = report["filtering_result"]
    assert len(bars) == len(result)
    widest = max(float(w) for _, _, w, _, _ in bars)
    top = max(result.values())
    for (_, _, w, _, title), (key, n) in zip(bars, result.items()):
        assert title.startswith(f"{key.replace('_', ' ')}: {n:,} ")
        if n:
            assert abs(float(w) / widest - n / top) < 0.002, (key, w, n)


def test_tables_show_the_report_numbers(report):
    text = render_html(report)
    before = report["summary"]["before_filtering"]
    assert f"{before['total_reads']:,}" in text and f"{before['q30_bases']:,}" in text
    assert "seqray qc -i real_R1.fastq.gz" in text
    assert "insert_size" in text  # extra keys appear under Details


def test_fasta_empty_and_long_reads_render(tmp_path):
    fasta = QcProfile()
    fasta.add(pa.array([b"ACGT" * 30], pa.large_binary()), None)
    long = QcProfile()
    long.add(*batch([(b"ACGT" * 2500, b"I" * 10_000), (b"GC" * 700, b"5" * 1400)]))
    for before in ([fasta], [QcProfile()], [long]):
        fig = Figures(render_html(fastp_report(before, before, {}, None, "seqray qc")))
        assert fig.plots and fig.scripts == 0
    # a 10 kb read's curves are averaged to at most 400 points, lengths to 200 bars
    points = {p["aria-label"]: int(p["data-points"]) for p in fig.plots}
    assert points["Quality per position (before filtering)"] == 400
    assert points["Read length (before filtering)"] == 2
    # no quality: no quality plots; empty input: "no data" panels, not errors
    fasta_fig = Figures(render_html(fastp_report([fasta], [fasta], {}, None, "c")))
    assert not [p for p in fasta_fig.plots if "quality" in p["aria-label"].lower()]
    empty = render_html(fastp_report([QcProfile()], [QcProfile()], {}, None, "c"))
    assert "no data" in empty
    write_html_report(fastp_report([long], [long], {}, None, "c"), str(tmp_path / "r.html"))
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


# -- in a real browser ----------------------------------------------------------------------

CONSOLE = re.compile(r":CONSOLE[:(\]]")

# appended to a copy of the report: measures every plot's marks as laid out by the browser
MEASURE = """<script>
const out = [...document.querySelectorAll('svg.plot')].map(svg => {
  const r = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('.mark')].map(m => m.getBBox())
    .filter(b => b.width > 0 || b.height > 0).length;
  return {label: svg.getAttribute('aria-label'), w: r.width, h: r.height, marks: marks};
});
const pre = document.createElement('pre'); pre.id = 'measure';
pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    # Debian's binary is chromium; some distributions call it chromium-browser
    browser = shutil.which("chromium-browser") or require_tool("chromium")
    base = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    base += ["--enable-logging=stderr", "--v=0", "--disable-extensions"]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.integration
def test_console_detector_sees_errors(tmp_path):
    """Control: a page with a script error does produce console lines we catch."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    run = chromium("--dump-dom", page.as_uri())
    assert any("undefinedFunction" in line for line in console_lines(run.stderr))


@pytest.mark.integration
def test_report_in_headless_chromium(report, tmp_path):
    """The screenshot stays in tmp_path (pytest keeps the last runs' directories for review)."""
    html = tmp_path / "qc.html"
    write_html_report(report, str(html))
    shot = tmp_path / "qc.png"
    run = chromium(f"--screenshot={shot}", "--window-size=1280,3400", html.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_lines(run.stderr) == []
    assert png_size(shot) == (1280, 3400)

    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", MEASURE + "</body>"))
    run = chromium("--dump-dom", "--window-size=1280,3400", probe.as_uri())
    assert console_lines(run.stderr) == []
    m = re.search(r"<pre id=\"measure\">(.*?)</pre>", run.stdout, re.S)
    assert m, "the measuring script did not run"
    plots = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(plots) == len(Figures(html.read_text()).plots) == 19
    for p in plots:
        assert p["w"] > 300 and p["h"] > 60, p
        assert p["marks"] > 0, p
