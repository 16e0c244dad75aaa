"""The self-contained HTML report: every plot present with data, nothing fetched from the
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
from tests.qc.test_profile import batch

CHROMIUM = next((c for c in ("chromium", "chromium-browser") if shutil.which(c)), None)
SCREENSHOT_FOR_REVIEW = Path("/tmp/qc_report_screenshot.png")


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
    # per mate and stage: quality, content, length, quality histogram; + filtering, dup
    assert kinds.count("line") == 2 * 2 * 2
    assert kinds.count("bar") == 2 * 2 * 2
    assert kinds.count("hbar") == 2
    for p in fig.plots:
        assert int(p["data-points"]) > 0 and p["marks"] > 0, p["aria-label"]
    labels = [p["aria-label"] for p in fig.plots]
    assert "Quality per position (after filtering)" in labels
    assert "Duplication rate: 1.23%" in labels
    assert fig.scripts == 0 and fig.loads == []  # nothing to run, nothing to fetch


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

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium (Debian package) is not installed"
)
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
    base = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    base += ["--enable-logging=stderr", "--v=0", "--disable-extensions"]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@needs_chromium
@pytest.mark.integration
def test_console_detector_sees_errors(tmp_path):
    """Control: a page with a script error does produce console lines we catch."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    run = chromium("--dump-dom", page.as_uri())
    assert any("undefinedFunction" in line for line in console_lines(run.stderr))


@needs_chromium
@pytest.mark.integration
def test_report_in_headless_chromium(report, tmp_path):
    html = tmp_path / "qc.html"
    write_html_report(report, str(html))
    shot = tmp_path / "qc.png"
    run = chromium(f"--screenshot={shot}", "--window-size=1280,3400", html.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_lines(run.stderr) == []
    assert png_size(shot) == (1280, 3400)
    shutil.copyfile(shot, SCREENSHOT_FOR_REVIEW)

    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", MEASURE + "</body>"))
    run = chromium("--dump-dom", "--window-size=1280,3400", probe.as_uri())
    assert console_lines(run.stderr) == []
    m = re.search(r"<pre id=\"measure\">(.*?)</pre>", run.stdout, re.S)
    assert m, "the measuring script did not run"
    plots = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(plots) == len(Figures(html.read_text()).plots) == 18
    for p in plots:
        assert p["w"] > 300 and p["h"] > 60, p
        assert p["marks"] > 0, p
