"""The console's SVG charts: well-formed XML, bars and points placed in proportion to their
integer figures, every text escaped, and an honest "no data" when there is nothing to draw."""

import xml.etree.ElementTree as ET

import pytest

from api.console.charts import Chart, Scale, Series, bar_chart, figure, line_chart, nice_step

svg_namespace = "{http://www.w3.org/2000/svg}"


def chart(*series: Series, labels: tuple[str, ...] = ("2026-01", "2026-02", "2026-03")) -> Chart:
    return Chart(
        key="points",
        title='Points <issued> & "redeemed"',
        labels=labels,
        series=series,
        no_data="No data for these dates",
        period_word="Period",
    )


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314  (our own output, not input from outside)


def svg_of(figure_element: ET.Element) -> ET.Element:
    found = figure_element.find(f"{svg_namespace}svg")
    assert found is not None
    return found


def bars_of(svg: ET.Element) -> list[ET.Element]:
    return list(svg.iter(f"{svg_namespace}rect"))


def test_the_figure_parses_as_xml_with_a_title_and_a_label() -> None:
    element = parsed(bar_chart(chart(Series(name="issued", values=(10, 20, 40)))))
    svg = svg_of(element)
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == 'Points <issued> & "redeemed": issued'
    title = svg.find(f"{svg_namespace}title")
    assert title is not None
    assert title.text == 'Points <issued> & "redeemed": issued'


def test_bars_are_proportional_to_their_figures() -> None:
    svg = svg_of(parsed(bar_chart(chart(Series(name="issued", values=(10, 20, 40))))))
    heights = {
        rect.get("data-period"): float(rect.get("height") or 0)
        for rect in bars_of(svg)
        if rect.get("class") == "bar"
    }
    assert heights["2026-02"] == pytest.approx(2 * heights["2026-01"], abs=0.2)
    assert heights["2026-03"] == pytest.approx(4 * heights["2026-01"], abs=0.2)


def test_a_negative_figure_hangs_below_the_zero_line() -> None:
    svg = svg_of(parsed(bar_chart(chart(Series(name="net", values=(30, -15, 0))))))
    bars = {r.get("data-period"): r for r in bars_of(svg) if r.get("class") == "bar"}
    up, down = bars["2026-01"], bars["2026-02"]
    zero = float(up.get("y") or 0) + float(up.get("height") or 0)
    assert float(down.get("y") or 0) == pytest.approx(zero, abs=0.2)
    assert float(down.get("height") or 0) == pytest.approx(
        float(up.get("height") or 0) / 2, abs=0.2
    )


def test_every_bar_names_its_period_series_and_exact_figure() -> None:
    svg = svg_of(parsed(bar_chart(chart(Series(name="a<b", values=(1, 1234567, 0))))))
    titled = [
        rect.findtext(f"{svg_namespace}title")
        for rect in bars_of(svg)
        if rect.get("class") == "bar"
    ]
    assert titled[1] == "a<b, 2026-02: 1\u202f234\u202f567"


def test_the_table_beside_the_chart_holds_the_same_figures() -> None:
    element = parsed(
        bar_chart(
            chart(
                Series(name="issued", values=(5, 6, 7)), Series(name="redeemed", values=(1, 2, 3))
            )
        )
    )
    table = element.find(".//table")
    assert table is not None
    rows = [[cell.text for cell in row] for row in table.iter("tr")]
    assert rows == [
        ["Period", "issued", "redeemed"],
        ["2026-01", "5", "1"],
        ["2026-02", "6", "2"],
        ["2026-03", "7", "3"],
    ]


def test_a_line_chart_places_points_in_proportion() -> None:
    svg = svg_of(parsed(line_chart(chart(Series(name="liability", values=(0, 50, 100))))))
    points = [c for c in svg.iter(f"{svg_namespace}circle")]
    ys = [float(point.get("cy") or 0) for point in points]
    assert [point.get("data-value") for point in points] == ["0", "50", "100"]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.2)
    assert svg.find(f"{svg_namespace}g/{svg_namespace}polyline") is not None


@pytest.mark.parametrize(
    "empty",
    [
        chart(Series(name="issued", values=()), labels=()),
        chart(Series(name="issued", values=(0, 0, 0))),
        chart(labels=()),
    ],
)
@pytest.mark.parametrize("draw", [bar_chart, line_chart])
def test_nothing_to_draw_says_so(empty: Chart, draw: object) -> None:
    assert callable(draw)
    element = parsed(draw(empty))
    svg = svg_of(element)
    assert svg.findtext(f"{svg_namespace}text") == "No data for these dates"
    assert not [r for r in bars_of(svg) if r.get("class") == "bar"]
    assert element.find(".//table") is None


def test_the_axis_ticks_are_round_integers_covering_every_figure() -> None:
    scale = Scale.of([-7, 1234])
    assert scale.step == 500
    assert list(scale.ticks()) == [-500, 0, 500, 1000, 1500]
    assert [nice_step(span) for span in (0, 4, 5, 9, 40, 41, 10**13)] == [
        1,
        1,
        2,
        5,
        10,
        20,
        5 * 10**12,
    ]


def test_big_money_sums_stay_exact_integers_in_labels() -> None:
    huge = 10**15 + 1
    svg = svg_of(parsed(bar_chart(chart(Series(name="money", values=(huge, 0, 1))))))
    bar = next(r for r in bars_of(svg) if r.get("data-period") == "2026-01")
    assert bar.get("data-value") == str(huge)
    assert figure(huge) == "1\u202f000\u202f000\u202f000\u202f000\u202f001"


def test_a_series_without_one_figure_per_period_is_a_bug() -> None:
    with pytest.raises(ValueError, match="one figure per period"):
        chart(Series(name="issued", values=(1, 2)))
