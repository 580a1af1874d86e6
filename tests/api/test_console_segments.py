"""The console's segments page at the HTTP level: a segment saved from the filter's JSON shows
its count, members and export link; a version the use case refuses is shown again as typed with
the JSON path it names, and nothing is saved; the export streams the members as CSV through the
session; the members page with the use case's cursor; the versions list who stored each, when,
its filter and what changed from the version before, a page at a time."""

import csv
import html
import io
import json
import re

import pytest

from api.console import segments as console_segments
from tests.api.test_console import _csrf, form_key_for, signed_in
from tests.conftest import Api

_segment = re.compile(r'name="segment" value="([^"]+)"')
_member_phone = re.compile(r'<tr class="member"><td><a href="[^"]+">([^<]+)</a>')
_members_next = re.compile(r'class="next-page" href="([^"]+&amp;members=[^"]+)"')
_versions_next = re.compile(r'class="next-page" href="([^"]+&amp;before=[^"]+)"')
_version = re.compile(r'<tr class="segment-version" data-version="(\d+)">(.*?)</tr>', re.S)


def versions_of(page: str) -> dict[int, str]:
    """The versions listed, each as its row's text."""
    rows = _version.findall(page)
    return {int(number): " ".join(re.sub(r"<[^>]+>", " ", html.unescape(row)).split()) for
            number, row in rows}  # fmt: skip


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


async def test_the_members_page_a_page_at_a_time_with_the_use_cases_cursor(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_segments, "size", 2)
    phones = {f"+7912000009{n}" for n in range(5)}
    for phone in sorted(phones):
        await api.customer(phone, points=300)
    await signed_in(api)
    empty = await api.client.get("/console/segments")
    first = await save(api, empty.text, "Все", '{"all": [{"fact": "available", "min": 1}]}')
    segment = _segment.findall(first)[0]

    seen: list[str] = []
    shown = first
    for expected in (2, 2, 1):
        assert len(_member_phone.findall(shown)) == expected, shown
        seen += _member_phone.findall(shown)
        following = _members_next.findall(shown)
        if expected < 2:
            assert not following
            break
        assert len(following) == 1
        shown = (await api.client.get(html.unescape(following[0]))).text
        assert "Первая страница" in shown
        assert f'href="/console/segments?program={api.program_id}&amp;segment={segment}"' in shown
    assert sorted(seen) == sorted(phones)
    members = await api.get(f"/v1/segments/{segment}/members?limit=5", key=api.admin_key)
    assert [m["phone"] for m in members.json()["items"]] == seen  # the API's order

    refused = await api.client.get(
        "/console/segments",
        params={"program": api.program_id, "segment": segment, "members": "nonsense"},
    )
    assert refused.status_code == 404
    assert 'role="alert"' in refused.text
    assert not _member_phone.findall(refused.text)


async def test_the_versions_show_who_stored_each_when_and_what_changed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in(api)
    empty = await api.client.get("/console/segments")
    first = await save(api, empty.text, "Богатые", '{"all": [{"fact": "available", "min": 200}]}')
    segment = _segment.findall(first)[0]
    changed = '{"all": [{"fact": "available", "min": 250}, {"fact": "pending", "max": 10}]}'
    second = await save(api, first, "Очень богатые", changed, segment)

    listed = versions_of(second)
    assert list(listed) == [2, 1]
    stored = (await api.get(f"/v1/segments/{segment}/versions", key=api.admin_key)).json()
    key_id = stored["items"][0]["key_id"]
    assert key_id is not None
    assert all(key_id in row for row in listed.values())  # the console's key stored both
    assert "Очень богатые" in listed[2]
    assert "Богатые" in listed[1]
    assert "filter.all[0].min изменено 200 → 250" in listed[2]
    added = re.search(r"filter\.all\[1\] добавлено (\{[^}]*\})", listed[2])
    assert added is not None
    assert json.loads(added.group(1)) == {"fact": "pending", "max": 10}
    assert "изменено" not in listed[1]  # the first version has nothing before it
    assert '"min": 200' in listed[1]  # its filter as the editor holds it

    monkeypatch.setattr(console_segments, "size", 1)
    one = await api.client.get(
        "/console/segments", params={"program": api.program_id, "segment": segment}
    )
    assert list(versions_of(one.text)) == [2]
    assert "filter.all[0].min изменено 200 → 250" in versions_of(one.text)[2]  # across pages
    following = _versions_next.findall(one.text)
    assert len(following) == 1
    older = await api.client.get(html.unescape(following[0]))
    assert list(versions_of(older.text)) == [1]
    assert not _versions_next.findall(older.text)
    assert "Первая страница" in older.text


async def test_the_export_link_streams_the_members_as_the_apis_csv(api: Api) -> None:
    rich = await api.customer("+79120000083", points=500)
    await api.customer("+79120000084", points=50)
    await signed_in(api)
    empty = await api.client.get("/console/segments")
    shown = await save(api, empty.text, "Выгрузка", '{"all": [{"fact": "available", "min": 100}]}')
    segment = _segment.findall(shown)[0]
    link = f'<a class="export-link" href="/console/segments/{segment}/export">'
    assert link in shown

    export = await api.client.get(f"/console/segments/{segment}/export")

    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert f'filename="segment-{segment}-v1.csv"' in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["customer_id", "phone", "name", "available"]
    assert [row[:2] for row in rows[1:]] == [[rich, "+79120000083"]]
    assert rows[1][3] == "500"
    through_key = await api.get(f"/v1/segments/{segment}/export", key=api.admin_key)
    assert through_key.content == export.content  # the API's own export, byte for byte
