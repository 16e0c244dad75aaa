"""Static SVG charts for the HTML report: line charts, vertical and horizontal bars.

Plain SVG strings, so a report needs no JavaScript and no network to view. Hover values
come from SVG `<title>` elements (native browser tooltips). Every data mark carries the
class `mark`, and each chart says how many points it drew in `data-points`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

MAX_POINTS = 400  # longer curves are averaged into this many bins

_FONT = "font-family='system-ui,sans-serif' font-size='11'"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def fmt_num(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def bin_series(xs: Sequence[float], ys: Sequence[float], bins: int = MAX_POINTS):
    """Averages a long curve into at most `bins` points (x = mean position of a bin)."""
    n = len(xs)
    if n <= bins:
        return list(xs), list(ys)
    out_x, out_y = [], []
    for b in range(bins):
        a, e = b * n // bins, (b + 1) * n // bins
        out_x.append(sum(xs[a:e]) / (e - a))
        out_y.append(sum(ys[a:e]) / (e - a))
    return out_x, out_y


class _Frame:
    """Plot area, axes and gridlines of one chart."""

    def __init__(self, width, height, xlo, xhi, ylo, yhi, left=54, right=96, top=30, bottom=40):
        self.w, self.h = width, height
        self.l, self.r, self.t, self.b = left, width - right, top, height - bottom
        self.xlo, self.xhi = xlo, (xhi if xhi > xlo else xlo + 1)
        self.ylo, self.yhi = ylo, (yhi if yhi > ylo else ylo + 1)

    def x(self, v: float) -> float:
        return self.l + (v - self.xlo) / (self.xhi - self.xlo) * (self.r - self.l)

    def y(self, v: float) -> float:
        return self.b - (v - self.ylo) / (self.yhi - self.ylo) * (self.b - self.t)

    def axes(self, title, xlabel, ylabel, xticks, yticks) -> list[str]:
        out = [
            f"<text x='{self.w / 2:.0f}' y='16' text-anchor='middle' {_FONT} "
            f"font-weight='600' font-size='13'>{escape(title)}</text>"
        ]
        for t in yticks:
            y = self.y(t)
            out.append(
                f"<line x1='{self.l}' x2='{self.r}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e4e4e4'/>"
                f"<text x='{self.l - 5}' y='{y + 4:.1f}' text-anchor='end' {_FONT}>"
                f"{fmt_num(t)}</text>"
            )
        for t in xticks:
            x = self.x(t)
            out.append(
                f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{self.b}' y2='{self.b + 4}' stroke='#555'/>"
                f"<text x='{x:.1f}' y='{self.b + 16}' text-anchor='middle' {_FONT}>"
                f"{fmt_num(t)}</text>"
            )
        out.append(
            f"<path d='M{self.l},{self.t} V{self.b} H{self.r}' stroke='#555' fill='none'/>"
            f"<text x='{(self.l + self.r) / 2:.0f}' y='{self.h - 6}' text-anchor='middle' "
            f"{_FONT}>{escape(xlabel)}</text>"
            f"<text transform='translate(13,{(self.t + self.b) / 2:.0f}) rotate(-90)' "
            f"text-anchor='middle' {_FONT}>{escape(ylabel)}</text>"
        )
        return out


def _svg(body: list[str], width: int, height: int, kind: str, points: int, label: str) -> str:
    return (
        f"<svg class='plot' data-kind='{kind}' data-points='{points}' "
        f"xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"width='{width}' height='{height}' role='img' aria-label='{escape(label)}'>"
        + "".join(body)
        + "</svg>"
    )


def _empty(title: str, width: int, height: int, kind: str) -> str:
    body = [
        f"<text x='{width / 2:.0f}' y='16' text-anchor='middle' {_FONT} font-weight='600' "
        f"font-size='13'>{escape(title)}</text>",
        f"<text x='{width / 2:.0f}' y='{height / 2:.0f}' text-anchor='middle' {_FONT} "
        f"fill='#888'>no data</text>",
    ]
    return _svg(body, width, height, kind, 0, title)


def line_chart(
    xs: Sequence[float],
    series: list[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    ylo: float | None = None,
    yhi: float | None = None,
    width: int = 600,
    height: int = 270,
    value_format: str = "{:.2f}",
) -> str:
    """Curves (name, colour, y values) over shared x values, legend on the right."""
    if not len(xs) or not series:
        return _empty(title, width, height, "line")
    binned = [(name, colour, *bin_series(xs, ys)) for name, colour, ys in series]
    bx = binned[0][2]
    all_y = [v for *_, ys in binned for v in ys]
    yticks = nice_ticks(min(all_y) if ylo is None else ylo, max(all_y) if yhi is None else yhi)
    xticks = nice_ticks(min(bx), max(bx), 6)
    xticks = [t for t in xticks if min(bx) <= t <= max(bx)] or [bx[0]]
    f = _Frame(width, height, min(bx), max(bx), yticks[0], yticks[-1])
    body = f.axes(title, xlabel, ylabel, xticks, yticks)
    for i, (name, colour, px, py) in enumerate(binned):
        pts = " ".join(f"{f.x(a):.1f},{f.y(b):.1f}" for a, b in zip(px, py))
        if len(px) == 1:
            body.append(
                f"<circle class='mark' cx='{f.x(px[0]):.1f}' cy='{f.y(py[0]):.1f}' r='3' "
                f"fill='{colour}'/>"
            )
        body.append(
            f"<polyline class='mark' data-series='{escape(name)}' points='{pts}' "
            f"fill='none' stroke='{colour}' stroke-width='1.6'/>"
        )
        ly = f.t + 6 + 16 * i
        body.append(
            f"<line x1='{f.r + 10}' x2='{f.r + 28}' y1='{ly}' y2='{ly}' stroke='{colour}' "
            f"stroke-width='3'/><text x='{f.r + 33}' y='{ly + 4}' {_FONT}>{escape(name)}</text>"
        )
    # hover columns: one invisible strip per point, its title lists every series' value
    step = (f.r - f.l) / max(len(bx), 1)
    for j, a in enumerate(bx):
        values = ", ".join(f"{name} {value_format.format(py[j])}" for name, _, _, py in binned)
        body.append(
            f"<rect x='{f.x(a) - step / 2:.1f}' y='{f.t}' width='{step:.2f}' "
            f"height='{f.b - f.t}' fill='transparent'><title>{xlabel} {a:g}: {values}"
            "</title></rect>"
        )
    return _svg(body, width, height, "line", len(bx), title)


def bar_chart(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    colours: Sequence[str] | str = "#3070c0",
    xmin: float | None = None,
    width: int = 600,
    height: int = 270,
) -> str:
    """Vertical bars at integer x values (e.g. a histogram); the x axis starts at `xmin`
    when given and spans at least 10 units, so a single bar stays a bar."""
    if not len(xs) or not any(ys):
        return _empty(title, width, height, "bar")
    if isinstance(colours, str):
        colours = [colours] * len(xs)
    lo = (min(xs) if xmin is None else min(xmin, min(xs))) - 0.5
    hi = max(max(xs) + 0.5, lo + 10)
    yticks = nice_ticks(0, max(ys))
    xticks = [t for t in nice_ticks(lo, hi, 6) if lo <= t <= hi and t == int(t)]
    f = _Frame(width, height, lo, hi, 0, yticks[-1], right=20)
    body = f.axes(title, xlabel, ylabel, xticks, yticks)
    bw = max((f.r - f.l) / (hi - lo), 0.5)
    for a, v, c in zip(xs, ys, colours):
        if v <= 0:
            continue
        top = f.y(v)
        body.append(
            f"<rect class='mark' x='{f.x(a) - bw / 2:.2f}' y='{top:.1f}' "
            f"width='{max(bw - 0.6, 0.5):.2f}' height='{max(f.b - top, 0.5):.1f}' fill='{c}'>"
            f"<title>{xlabel} {a:g}: {v:,}</title></rect>"
        )
    return _svg(body, width, height, "bar", sum(1 for v in ys if v > 0), title)


def hbar_chart(
    items: list[tuple[str, float, str]],
    *,
    title: str,
    total: float,
    width: int = 600,
    value_format: str = "{:,.0f}",
) -> str:
    """Horizontal bars (label, value, colour) with value and share of `total`."""
    height = 40 + 26 * len(items)
    if not items:
        return _empty(title, width, height, "hbar")
    top = max(max(v for _, v, _ in items), 1)
    left, right = 150, width - 150
    body = [
        f"<text x='{width / 2:.0f}' y='16' text-anchor='middle' {_FONT} font-weight='600' "
        f"font-size='13'>{escape(title)}</text>"
    ]
    for i, (label, v, colour) in enumerate(items):
        y = 30 + 26 * i
        w = (right - left) * v / top
        share = f"{100 * v / total:.2f}%" if total else "-"
        shown = value_format.format(v) if value_format != "{:,.0f}" else f"{v:,.0f} ({share})"
        body.append(
            f"<text x='{left - 8}' y='{y + 14}' text-anchor='end' {_FONT}>{escape(label)}</text>"
            f"<rect class='mark' x='{left}' y='{y}' width='{max(w, 0.5):.1f}' height='18' "
            f"fill='{colour}'><title>{escape(label)}: {shown}</title></rect>"
            f"<text x='{left + w + 6:.1f}' y='{y + 14}' {_FONT}>{shown}</text>"
        )
    return _svg(body, width, height, "hbar", len(items), title)
