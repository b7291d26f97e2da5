"""Server-rendered SVG charts for the dashboard (07 §5): no JavaScript, no third-party code, no inline styles.

Pure functions from plain values to SVG markup. The strict CSP forbids `style=""`, so shapes carry classes
(styled in dashboard.css) plus SVG presentation attributes as a fallback. Every label is escaped here, since the
caller marks the result safe for the template. Each chart has a `<title>` and `<desc>` referenced by
`aria-labelledby`, so screen readers announce what the picture shows; an empty series renders an explicit
"no data" state instead of a blank box.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from html import escape
from typing import Final

Formatter = Callable[[float], str]

WIDTH: Final = 640
HEIGHT: Final = 240
# Room for the y tick labels on the left and the x labels (and legend) below the plot.
LEFT: Final = 64
RIGHT: Final = 16
TOP: Final = 16
BOTTOM: Final = 40
MAX_X_LABELS: Final = 7


def compact(value: float) -> str:
    """1234567 → "1.2M": short tick labels that fit the left margin."""
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """0 and evenly spaced round values (1, 2, 2.5 or 5 × 10ⁿ apart) whose last tick is ≥ `maximum`."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _ident(prefix: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")
    return cleaned or "chart"


def _open(ident: str, title: str, desc: str, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def _empty(ident: str, title: str, message: str, kind: str) -> str:
    parts = _open(ident, title, message, kind)
    parts.append(
        f'<rect class="chart-frame" x="0.5" y="0.5" width="{WIDTH - 1}" height="{HEIGHT - 1}" fill="none" '
        'stroke="#e5e7eb"/>'
    )
    parts.append(
        f'<text class="chart-empty" x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" '
        f'fill="#6b7280">{escape(message)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(ticks: Sequence[float], fmt: Formatter) -> tuple[list[str], Callable[[float], float]]:
    """Grid lines and labels of the value axis, and the value → y mapping they imply."""
    top_value = ticks[-1]
    plot_h = HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return TOP + plot_h - (value / top_value) * plot_h

    parts = ['<g class="chart-axis chart-y">']
    for tick in ticks:
        y = _num(y_of(tick))
        parts.append(f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text class="chart-tick" x="{LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'fill="#6b7280">{escape(fmt(tick))}</text>'
        )
    parts.append(
        f'<line class="chart-baseline" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y_of(0))}" '
        f'y2="{_num(y_of(0))}" stroke="#9ca3af"/>'
    )
    parts.append("</g>")
    return parts, y_of


def _x_label(x: float, label: str) -> str:
    return (
        f'<text class="chart-tick" x="{_num(x)}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
        f'fill="#6b7280">{escape(label)}</text>'
    )


def _label_every(n: int) -> int:
    return max(1, math.ceil(n / MAX_X_LABELS))


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    desc: str = "",
    fmt: Formatter = compact,
    ident: str | None = None,
    empty_message: str = "No data yet",
) -> str:
    """A single-series line chart: `points` are (x label, value) in order. Values below 0 are drawn at 0 (the
    dashboard's series — MRR, amounts — are never negative)."""
    ident = _ident(ident or title)
    if not points:
        return _empty(ident, title, empty_message, "line")
    values = [max(0.0, float(v)) for _, v in points]
    parts = _open(ident, title, desc or f"{title}: {len(points)} points", "line")
    axis, y_of = _y_axis(nice_ticks(max(values)), fmt)
    parts.extend(axis)
    plot_w = WIDTH - LEFT - RIGHT
    step = plot_w / (len(points) - 1) if len(points) > 1 else 0.0

    def x_of(index: int) -> float:
        return LEFT + index * step if len(points) > 1 else LEFT + plot_w / 2

    coords = [(x_of(n), y_of(v)) for n, v in enumerate(values)]
    parts.append('<g class="chart-axis chart-x">')
    every = _label_every(len(points))
    for n, (label, _) in enumerate(points):
        if n % every == 0 or n == len(points) - 1:
            parts.append(_x_label(x_of(n), label))
    parts.append("</g>")
    if len(coords) > 1:
        path = " ".join(f"{'M' if n == 0 else 'L'}{_num(x)},{_num(y)}" for n, (x, y) in enumerate(coords))
        parts.append(f'<path class="chart-line" d="{path}" fill="none" stroke="#0f766e" stroke-width="2"/>')
    parts.append('<g class="chart-points">')
    for (label, raw), (x, y) in zip(points, coords, strict=True):
        parts.append(
            f'<circle class="chart-point" cx="{_num(x)}" cy="{_num(y)}" r="2.5" fill="#0f766e">'
            f"<title>{escape(label)}: {escape(fmt(float(raw)))}</title></circle>"
        )
    parts.append("</g></svg>")
    return "".join(parts)


def bar_chart(
    pairs: Sequence[tuple[str, float, float]],
    *,
    title: str,
    series: tuple[str, str] = ("First", "Second"),
    desc: str = "",
    fmt: Formatter = compact,
    ident: str | None = None,
    empty_message: str = "No data yet",
) -> str:
    """A grouped bar chart of two series: `pairs` are (x label, first value, second value) in order. An all-zero
    series still draws its axis (zero is data); only an empty sequence is the empty state."""
    ident = _ident(ident or title)
    if not pairs:
        return _empty(ident, title, empty_message, "bar")
    parts = _open(ident, title, desc or f"{title}: {series[0]} and {series[1]} per period", "bar")
    top = max(max(float(a), float(b)) for _, a, b in pairs)
    axis, y_of = _y_axis(nice_ticks(top), fmt)
    parts.extend(axis)
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / len(pairs)
    bar_w = max(1.0, slot * 0.35)
    base = y_of(0)
    every = _label_every(len(pairs))
    parts.append('<g class="chart-axis chart-x">')
    for n, (label, _, _) in enumerate(pairs):
        if n % every == 0 or n == len(pairs) - 1:
            parts.append(_x_label(LEFT + slot * n + slot / 2, label))
    parts.append("</g>")
    for index, (name, css, colour) in enumerate(
        ((series[0], "chart-bar-a", "#b45309"), (series[1], "chart-bar-b", "#0f766e"))
    ):
        parts.append(f'<g class="chart-series {css}" fill="{colour}">')
        for n, pair in enumerate(pairs):
            value = max(0.0, float(pair[1 + index]))
            x = LEFT + slot * n + slot / 2 - bar_w + index * bar_w
            y = y_of(value)
            parts.append(
                f'<rect class="chart-bar" x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" '
                f'height="{_num(base - y)}"><title>{escape(pair[0])} — {escape(name)}: {escape(fmt(value))}</title>'
                "</rect>"
            )
        parts.append("</g>")
    # The legend sits under the x labels, one swatch per series.
    legend_y = HEIGHT - 10
    parts.append('<g class="chart-legend">')
    for index, (name, css, colour) in enumerate(
        ((series[0], "chart-bar-a", "#b45309"), (series[1], "chart-bar-b", "#0f766e"))
    ):
        x = LEFT + index * 180
        parts.append(
            f'<rect class="chart-swatch {css}" x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(f'<text class="chart-tick" x="{x + 14}" y="{legend_y}" fill="#374151">{escape(name)}</text>')
    parts.append("</g></svg>")
    return "".join(parts)


__all__ = ["bar_chart", "compact", "line_chart", "nice_ticks"]
