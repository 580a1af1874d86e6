"""The console's segments page at the HTTP level: a segment saved from the filter's JSON shows
its count, members and export link; a version the use case refuses is shown again as typed with
the JSON path it names, and nothing is saved; the export streams the members as CSV through the
session."""

import html
import re

from tests.api.test_console import _csrf, form_key_for, signed_in
from tests.conftest import Api

_segment = re.compile(r'name="segment" value="([^"]+)"')


async def save(api: Api, page: str, name: str, text: str, segment: str | None = None) -> str:
    form = {
        "csrf": _csrf.findall(page)[0],
        "form_key": form_key_for(page, "/console/segments"),
        "program": api.program_id,
        "name": name,
        "filter": text,
    } | ({"segment": segment} if segment else {})
    response = await api.client.post(
        "/console/segments", data=form, headers={"Origin": "http://testserver"}
    )
    if response.status_code == 303:
        followed = await api.client.get(response.headers["location"])
        assert followed.status_code == 200, followed.text
        return followed.text
    assert response.status_code in (400, 422), response.text  # refused, or a field unread
    return response.text


async def test_a_segment_is_saved_counted_and_exported_from_the_console(api: Api) -> None:
    await api.customer("+79120000081", points=300)
    await api.customer("+79120000082", points=100)
    await signed_in(api)
    empty = await api.client.get("/console/segments")
    assert empty.status_code == 200, empty.text

    shown = await save(api, empty.text, "Богатые", '{"all": [{"fact": "available", "min": 200}]}')

    assert "Сегмент сохранён" in shown
    assert re.search(r'id="segment-count">[^<]*<strong class="exact">1</strong>', shown), shown
    assert shown.count('<tr class="member">') == 1
    assert "+79120000081" in shown
    segment = _segment.findall(shown)[0]

    bad = '{"all": [{"fact": "available", "min": 200}, {"fact": "pending", "max": -1}]}'
    refused = await save(api, shown, "", bad, segment)
    assert '<code id="error-field">filter.all[1].max</code>' in refused
    typed = re.search(r'<textarea id="segment-filter"[^>]*>([^<]*)</textarea>', refused)
    assert typed is not None
    assert html.unescape(typed.group(1)) == bad
    versions = await api.get(f"/v1/segments/{segment}/versions", key=api.admin_key)
    assert [v["version"] for v in versions.json()["items"]] == [1]

    export = await api.client.get(f"/console/segments/{segment}/export")
    assert export.status_code == 200
    assert export.content.startswith(b"\xef\xbb\xbfcustomer_id;phone;")
    assert export.content.count(b"\r\n") == 2
