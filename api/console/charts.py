"""Charts drawn on the server as SVG: bars or lines of series by period, with their axes, a
``<title>`` and ``aria-label`` for a screen reader, and the same figures as a ``<table>`` beside
them. No script, no stylesheet of their own and nothing from another host: the console's
content security policy allows neither inline styles nor scripts, so colours are presentation
attributes.

Figures are integers (points, money in minor units, counts) and stay integers in every label and
tick; only pixel positions are floats. An empty chart (no period, or every figure zero) says so
rather than drawing an axis with nothing on it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from markupsafe import Markup

width: Final = 640
height: Final = 260
margin_left: Final = 72
margin_right: Final = 12
margin_top: Final = 28
margin_bottom: Final = 40
plot_width: Final = width - margin_left - margin_right
plot_height: Final = height - margin_top - margin_bottom
# The most period labels written under the x axis; with more periods every n-th is written.
x_labels_max: Final = 12
# The y axis is divided into about this many steps of 1, 2 or 5 times a power of ten.
y_steps_wanted: Final = 4
# Series colours, in order; a chart has at most as many series as colours.
palette: Final = ("#2f5d8a", "#c2571a", "#3f8f4e", "#8a3f8f", "#8f7a2f")
series_max: Final = len(palette)


@dataclass(frozen=True, kw_only=True)
class Series:
    name: str
    values: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Chart:
    """``labels`` name the periods (the x axis); each series has one figure per label."""

    key: str
    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    no_data: str
    period_word: str

    def __post_init__(self) -> None:
        if len(self.series) > series_max:
            raise ValueError(f"a chart draws at most {series_max} series")
        for one in self.series:
            if len(one.values) != len(self.labels):
                raise ValueError(f"series {one.name!r} has not one figure per period")


def text(value: object) -> str:
    return escape(str(value), quote=True)


def figure(value: int) -> str:
    """An integer with a narrow no-break space between thousands, as the tables show it."""
    return f"{value:,}".replace(",", "\u202f")


def nice_step(span: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that divides ``span`` into at most about
    ``y_steps_wanted`` steps; integers only."""
    raw = max(1, -(-span // y_steps_wanted))
    power = 1
    while power * 10 <= raw:
        power *= 10
    for multiple in (1, 2, 5, 10):
        if multiple * power >= raw:
            return multiple * power
    raise AssertionError("unreachable: 10 * power >= raw")


@dataclass(frozen=True)
class Scale:
    """The y axis: ticks from ``low`` to ``high`` (both multiples of ``step``, zero among them)."""

    low: int
    high: int
    step: int

    @classmethod
    def of(cls, values: Sequence[int]) -> "Scale":
        least, most = min(0, *values), max(0, *values)
        step = nice_step(most - least)
        low, high = (least // step) * step, -(-most // step) * step
        return cls(low, max(high, low + step), step)

    def y(self, value: int) -> float:
        return margin_top + plot_height * (self.high - value) / (self.high - self.low)

    def ticks(self) -> range:
        return range(self.low, self.high + 1, self.step)


def is_empty(chart: Chart) -> bool:
    return not chart.labels or all(v == 0 for one in chart.series for v in one.values)


def opening(chart: Chart, kind: str) -> list[str]:
    names = ", ".join(one.name for one in chart.series)
    label = f"{chart.title}: {names}" if names else chart.title
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'data-chart="{text(chart.key)}" role="img" aria-label="{text(label)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{text(label)}</title>",
    ]


def empty_svg(chart: Chart, kind: str) -> str:
    parts = opening(chart, kind)
    parts.append(
        f'<text class="no-data" x="{width // 2}" y="{height // 2}" text-anchor="middle" '
        f'fill="#667">{text(chart.no_data)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def axes(chart: Chart, scale: Scale) -> list[str]:
    parts = ['<g class="y-axis" font-size="11" fill="#556">']
    for tick in scale.ticks():
        y = scale.y(tick)
        parts.append(
            f'<line x1="{margin_left}" x2="{width - margin_right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#889" if tick == 0 else "#e2e6ec"}"/>'
            f'<text x="{margin_left - 6}" y="{y + 4:.1f}" text-anchor="end">{figure(tick)}</text>'
        )
    parts.append('</g><g class="x-axis" font-size="11" fill="#556">')
    every = -(-len(chart.labels) // x_labels_max)
    slot = plot_width / len(chart.labels)
    for index, label in enumerate(chart.labels):
        if index % every == 0:
            x = margin_left + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{height - margin_bottom + 16}" '
                f'text-anchor="middle">{text(label)}</text>'
            )
    parts.append("</g>")
    return parts


def legend(chart: Chart) -> list[str]:
    parts = ['<g class="legend" font-size="12" fill="#223">']
    x = margin_left
    for index, one in enumerate(chart.series):
        parts.append(
            f'<rect x="{x}" y="8" width="10" height="10" fill="{palette[index]}"/>'
            f'<text x="{x + 14}" y="17">{text(one.name)}</text>'
        )
        x += 24 + 7 * len(one.name)
    parts.append("</g>")
    return parts


def bars(chart: Chart, scale: Scale) -> list[str]:
    slot = plot_width / len(chart.labels)
    bar_width = slot * 0.8 / len(chart.series)
    zero = scale.y(0)
    parts = []
    for index, one in enumerate(chart.series):
        parts.append(f'<g class="series" data-series="{text(one.name)}" fill="{palette[index]}">')
        for position, (label, value) in enumerate(zip(chart.labels, one.values, strict=True)):
            x = margin_left + slot * (position + 0.1) + bar_width * index
            top = min(zero, scale.y(value))
            parts.append(
                f'<rect class="bar" data-period="{text(label)}" data-value="{value}" '
                f'x="{x:.1f}" y="{top:.1f}" width="{bar_width:.1f}" '
                f'height="{abs(scale.y(value) - zero):.1f}">'
                f"<title>{text(one.name)}, {text(label)}: {figure(value)}</title></rect>"
            )
        parts.append("</g>")
    return parts


def lines(chart: Chart, scale: Scale) -> list[str]:
    slot = plot_width / len(chart.labels)
    parts = []
    for index, one in enumerate(chart.series):
        points = [
            (margin_left + slot * (position + 0.5), scale.y(value))
            for position, value in enumerate(one.values)
        ]
        drawn = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<g class="series" data-series="{text(one.name)}">'
            f'<polyline points="{drawn}" fill="none" stroke="{palette[index]}" stroke-width="2"/>'
        )
        for (x, y), label, value in zip(points, chart.labels, one.values, strict=True):
            parts.append(
                f'<circle class="point" data-period="{text(label)}" data-value="{value}" '
                f'cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{palette[index]}">'
                f"<title>{text(one.name)}, {text(label)}: {figure(value)}</title></circle>"
            )
        parts.append("</g>")
    return parts


def svg(chart: Chart, kind: str) -> str:
    if is_empty(chart):
        return empty_svg(chart, kind)
    scale = Scale.of([value for one in chart.series for value in one.values])
    drawn = bars(chart, scale) if kind == "bar" else lines(chart, scale)
    return "".join([*opening(chart, kind), *axes(chart, scale), *drawn, *legend(chart), "</svg>"])


def table(chart: Chart) -> str:
    """The chart's figures as a table, for reading them exactly and for a screen reader."""
    head = "".join(f'<th scope="col">{text(one.name)}</th>' for one in chart.series)
    rows = []
    for position, label in enumerate(chart.labels):
        cells = "".join(
            f'<td class="number">{figure(one.values[position])}</td>' for one in chart.series
        )
        rows.append(f'<tr><th scope="row">{text(label)}</th>{cells}</tr>')
    return (
        f'<table class="chart-figures" data-chart="{text(chart.key)}">'
        f"<caption>{text(chart.title)}</caption>"
        f'<thead><tr><th scope="col">{text(chart.period_word)}</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def rendered(chart: Chart, kind: str) -> Markup:
    """The chart as a ``<figure>``: the SVG (``kind`` ``bar`` or ``line``) and, unless there is
    nothing to show, its table."""
    if kind not in ("bar", "line"):
        raise ValueError(f"no chart of kind {kind!r}")
    parts = [f'<figure class="chart-figure" id="chart-{text(chart.key)}">', svg(chart, kind)]
    if not is_empty(chart):
        parts.append(f"<details><summary>{text(chart.title)}</summary>{table(chart)}</details>")
    parts.append("</figure>")
    return Markup("".join(parts))  # noqa: S704  (every text in it went through escape())


def bar_chart(chart: Chart) -> Markup:
    return rendered(chart, "bar")


def line_chart(chart: Chart) -> Markup:
    return rendered(chart, "line")
