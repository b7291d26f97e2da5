"""Server-rendered SVG charts (07 §5): well-formed, accessible, escaped, no inline styles, an explicit empty state."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from duro.dashboard.charts import bar_chart, compact, line_chart, nice_ticks

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on malformed markup


def _texts(root: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text") if cls in (t.get("class") or "").split()]


def test_nice_ticks_are_round_and_cover_the_maximum() -> None:
    assert nice_ticks(100) == [0, 25, 50, 75, 100]
    assert nice_ticks(643_333) == [0, 200_000, 400_000, 600_000, 800_000]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(0) == [0, 1]


def test_compact_labels() -> None:
    assert [compact(v) for v in (0, 950, 1000, 1500, 2_000_000, 3_250_000_000)] == [
        "0",
        "950",
        "1k",
        "1.5k",
        "2M",
        "3.2B",
    ]


def test_line_chart_structure_and_accessibility() -> None:
    points = [("1 Mar", 100.0), ("2 Mar", 250.0), ("3 Mar", 200.0)]
    svg = line_chart(points, title="MRR (NGN)", desc="MRR over 90 days")
    root = _parse(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    labelled = (root.get("aria-labelledby") or "").split()
    assert labelled == ["mrr-ngn-title", "mrr-ngn-desc"]
    assert root.find(f"{NS}title").text == "MRR (NGN)"  # type: ignore[union-attr]
    assert root.find(f"{NS}desc").text == "MRR over 90 days"  # type: ignore[union-attr]
    (path,) = [p for p in root.iter(f"{NS}path") if p.get("class") == "chart-line"]
    assert path.get("d", "").count("L") == 2  # three points → one move and two line segments
    assert len([c for c in root.iter(f"{NS}circle") if c.get("class") == "chart-point"]) == 3
    ticks = _texts(root, "chart-tick")
    assert ticks[:4] == ["0", "100", "200", "300"]  # y axis ticks
    assert ticks[4:] == ["1 Mar", "2 Mar", "3 Mar"]  # x labels
    # The highest point sits above the lower one (SVG y grows downwards).
    ys = [float(c.get("cy", "0")) for c in root.iter(f"{NS}circle")]
    assert ys[1] < ys[2] < ys[0]


def test_labels_are_escaped_and_no_inline_styles() -> None:
    hostile = '<script>alert("x")</script>&'
    svg = line_chart([(hostile, 1.0), ("b", 2.0)], title=hostile, desc=hostile)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "style=" not in svg
    root = _parse(svg)
    assert root.find(f"{NS}title").text == hostile  # type: ignore[union-attr]
    bars = bar_chart([(hostile, 1, 2)], title="t", series=(hostile, "b"))
    assert "<script>" not in bars
    assert "style=" not in bars
    _parse(bars)


def test_x_labels_are_thinned_on_long_series() -> None:
    points = [(f"d{n}", float(n)) for n in range(90)]
    root = _parse(line_chart(points, title="MRR"))
    x_labels = [t for t in _texts(root, "chart-tick") if t.startswith("d")]
    assert 2 <= len(x_labels) <= 9
    assert x_labels[0] == "d0"
    assert x_labels[-1] == "d89"
    assert len([c for c in root.iter(f"{NS}circle")]) == 90  # every point is still drawn (with its tooltip)


def test_single_point_line_chart_draws_a_dot_without_a_path() -> None:
    root = _parse(line_chart([("today", 5.0)], title="MRR"))
    assert not [p for p in root.iter(f"{NS}path") if p.get("class") == "chart-line"]
    assert len(list(root.iter(f"{NS}circle"))) == 1


def test_empty_state() -> None:
    for svg in (line_chart([], title="MRR"), bar_chart([], title="Recovery", empty_message="Nothing yet")):
        root = _parse(svg)
        assert root.get("role") == "img"
        empty = _texts(root, "chart-empty")
        assert empty
        assert empty[0] in ("No data yet", "Nothing yet")
        assert not list(root.iter(f"{NS}circle"))
        assert not [r for r in root.iter(f"{NS}rect") if r.get("class") == "chart-bar"]


def test_bar_chart_two_series_heights_are_proportional() -> None:
    pairs = [("w1", 100, 50), ("w2", 0, 0), ("w3", 200, 200)]
    root = _parse(bar_chart(pairs, title="Dunning", series=("Entering dunning", "Recovered"), fmt=lambda v: f"{v:g}"))
    groups = [g for g in root.iter(f"{NS}g") if "chart-series" in (g.get("class") or "")]
    assert [g.get("class") for g in groups] == ["chart-series chart-bar-a", "chart-series chart-bar-b"]
    heights = [[float(r.get("height", "0")) for r in g.iter(f"{NS}rect")] for g in groups]
    assert heights[0][1] == 0
    assert heights[1][1] == 0
    assert heights[0][0] == heights[1][2] / 2 == heights[0][2] / 2
    assert heights[1][0] == heights[0][0] / 2
    tooltips = [t.text for r in root.iter(f"{NS}rect") for t in r.iter(f"{NS}title")]
    assert "w1 — Entering dunning: 100" in tooltips
    assert "w3 — Recovered: 200" in tooltips
    assert "Entering dunning" in _texts(root, "chart-tick")
    assert "Recovered" in _texts(root, "chart-tick")


def test_all_zero_bars_still_draw_the_axis() -> None:
    root = _parse(bar_chart([("w1", 0, 0), ("w2", 0, 0)], title="Dunning"))
    assert not _texts(root, "chart-empty")
    assert _texts(root, "chart-tick")[:2] == ["0", "1"]


def test_ids_are_distinct_per_chart() -> None:
    a = _parse(line_chart([("a", 1.0)], title="MRR", ident="mrr-NGN"))
    b = _parse(line_chart([("a", 1.0)], title="MRR", ident="mrr-USD"))
    assert a.get("aria-labelledby") != b.get("aria-labelledby")
