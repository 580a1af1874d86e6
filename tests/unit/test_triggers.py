"""The pure decisions of trigger messages: when quiet hours end in the program's zone (across
midnight and a change of offset), and each message's fate in precedence order (no address, then
consent, then the cap) with transactional messages free of consent, cap and quiet hours; when a
queued message may next be tried (a retry or a lease inside quiet hours waits until they end);
and the sandboxed templates' check."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from processing.core.events import EventType
from processing.core.triggers import (
    DEFAULT_KINDS,
    TRIGGER_EVENTS,
    Audience,
    MessageState,
    QuietHours,
    Suppression,
    Trigger,
    TriggerKind,
    birthdays_within,
    decide_fate,
    local_midnight,
    next_attempt_at,
    quiet_until,
)
from processing.service.messaging.links import read_token, unsubscribe_token
from processing.service.messaging.wording import pick_templates, points_of, template_refusal
from processing.service.records import TriggerTemplate

moscow = ZoneInfo("Europe/Moscow")
night = QuietHours(start_minute=21 * 60, end_minute=9 * 60)
lunch = QuietHours(start_minute=13 * 60, end_minute=14 * 60)


def at(text: str, zone: ZoneInfo = moscow) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("now", "quiet", "ends"),
    [
        ("2026-12-04 23:30", night, "2026-12-05 09:00"),
        ("2026-12-04 02:00", night, "2026-12-04 09:00"),
        ("2026-12-04 21:00", night, "2026-12-05 09:00"),
        ("2026-12-04 09:00", night, None),
        ("2026-12-04 12:00", night, None),
        ("2026-12-04 13:10", lunch, "2026-12-04 14:00"),
        ("2026-12-04 14:00", lunch, None),
        ("2026-12-04 03:00", QuietHours(start_minute=0, end_minute=0), None),
    ],
)
def test_quiet_hours_end_in_the_program_zone(now: str, quiet: QuietHours, ends: str | None) -> None:
    utc = at(now).astimezone(UTC)
    found = quiet_until(utc, moscow, quiet)
    assert found == (None if ends is None else at(ends))


def test_quiet_hours_keep_the_wall_clock_across_a_change_of_offset() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # The night of 28-29 March 2026: clocks go forward at 02:00.
    found = quiet_until(at("2026-03-28 23:00", berlin), berlin, night)
    assert found is not None
    assert found.astimezone(berlin).hour == 9
    assert found.utcoffset() != at("2026-03-28 23:00", berlin).utcoffset()


def test_the_day_of_the_cap_starts_at_local_midnight() -> None:
    now = at("2026-12-05 01:00").astimezone(UTC)  # still 4 December in UTC
    assert local_midnight(now, moscow) == at("2026-12-05 00:00")


def audience(**fields: object) -> Audience:
    values: dict[str, object] = {
        "recipient": "+79161234567",
        "consented": True,
        "counted_today": 0,
        "daily_cap": 2,
    }
    return Audience(**(values | fields))  # type: ignore[arg-type]


noon = at("2026-12-04 12:00")


@pytest.mark.parametrize(
    ("kind", "given", "state", "reason"),
    [
        (TriggerKind.marketing, audience(), MessageState.queued, None),
        (TriggerKind.marketing, audience(recipient=None, consented=False), MessageState.suppressed,
         Suppression.no_address),
        (TriggerKind.marketing, audience(consented=None), MessageState.suppressed,
         Suppression.no_consent),
        (TriggerKind.marketing, audience(consented=False, counted_today=5),
         MessageState.suppressed, Suppression.no_consent),
        (TriggerKind.marketing, audience(counted_today=2), MessageState.suppressed,
         Suppression.frequency_cap),
        (TriggerKind.transactional, audience(consented=False, counted_today=9),
         MessageState.queued, None),
        (TriggerKind.transactional, audience(recipient=None), MessageState.suppressed,
         Suppression.no_address),
    ],
)  # fmt: skip
def test_a_message_fate_in_precedence_order(
    kind: TriggerKind, given: Audience, state: MessageState, reason: Suppression | None
) -> None:
    fate = decide_fate(kind, given, noon, moscow, night)
    assert (fate.state, fate.reason, fate.due_at) == (state, reason, noon)


def test_only_marketing_waits_out_quiet_hours() -> None:
    late = at("2026-12-04 22:00")
    assert decide_fate(TriggerKind.marketing, audience(), late, moscow, night).due_at == at(
        "2026-12-05 09:00"
    )
    assert decide_fate(TriggerKind.transactional, audience(), late, moscow, night).due_at == late


@pytest.mark.parametrize(
    ("kind", "due", "quiet", "tried"),
    [
        # A retry's backoff that lands in the night waits for the morning, in the zone.
        (TriggerKind.marketing, "2026-12-04 21:05", night, "2026-12-05 09:00"),
        (TriggerKind.marketing, "2026-12-05 03:00", night, "2026-12-05 09:00"),
        (TriggerKind.marketing, "2026-12-04 20:59", night, "2026-12-04 20:59"),
        (TriggerKind.marketing, "2026-12-05 09:00", night, "2026-12-05 09:00"),
        (TriggerKind.marketing, "2026-12-04 13:30", lunch, "2026-12-04 14:00"),
        (TriggerKind.marketing, "2026-12-04 23:00", QuietHours(start_minute=0, end_minute=0),
         "2026-12-04 23:00"),
        # A transactional message is the customer's own business: due when it is due.
        (TriggerKind.transactional, "2026-12-04 23:00", night, "2026-12-04 23:00"),
    ],
)  # fmt: skip
def test_the_next_attempt_of_a_marketing_message_waits_out_quiet_hours(
    kind: TriggerKind, due: str, quiet: QuietHours, tried: str
) -> None:
    found = next_attempt_at(kind, at(due).astimezone(UTC), moscow, quiet)
    assert found == at(tried)


@pytest.mark.parametrize(
    ("template", "field", "words"),
    [
        (TriggerTemplate(channel="sms", body="{{ nmae }}"), "body", "undefined"),
        (TriggerTemplate(channel="sms", body="{{ name.__class__.__mro__ }}"), "body", "render"),
        (TriggerTemplate(channel="sms", body="{% for %}"), "body", "render"),
        (TriggerTemplate(channel="sms", body="{{ 1 / 0 }}"), "body", "ZeroDivisionError"),
        (
            TriggerTemplate(channel="sms", body="{% for i in range(9) %}{{ i }}{% endfor %}"),
            "body",
            "for is not allowed",
        ),
        (
            TriggerTemplate(channel="sms", body="{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"),
            "body",
            "macro is not allowed",
        ),
        (TriggerTemplate(channel="sms", body="{{ 'x' * 10**9 }}"), "body", "too long"),
        (TriggerTemplate(channel="sms", body="{{ 2 ** 100000 }}"), "body", "too large"),
        (TriggerTemplate(channel="sms", body="Я" * 300), "body", "SMS parts"),
        (TriggerTemplate(channel="email", body="Привет"), "subject", "subject"),
        (TriggerTemplate(channel="sms", subject="x", body="Привет"), "subject", "no subject"),
        (
            TriggerTemplate(channel="email", subject="{{ name }}\nBcc: x", body="x"),
            "subject",
            "one line",
        ),
    ],
)
def test_a_template_that_does_not_render_is_refused_naming_its_field(
    template: TriggerTemplate, field: str, words: str
) -> None:
    refusal = template_refusal(template, "Бонусы")
    assert refusal is not None
    assert refusal[0] == field
    assert words in refusal[1], refusal


def test_a_good_template_passes_and_one_per_channel_is_picked_by_locale() -> None:
    sms_ru = TriggerTemplate(channel="sms", body="{{ name }}: +{{ points }} баллов")
    sms_en = TriggerTemplate(channel="sms", locale="en", body="+{{ points }} points")
    assert template_refusal(sms_ru, "Бонусы") is None
    assert pick_templates([sms_en, sms_ru], "ru") == [sms_ru]
    assert pick_templates([sms_en], "ru") == [sms_en]


def test_each_channel_is_picked_in_the_customers_locale_else_russian_else_its_first() -> None:
    sms_ru = TriggerTemplate(channel="sms", body="+{{ points }} баллов")
    sms_en = TriggerTemplate(channel="sms", locale="en", body="+{{ points }} points")
    sms_de = TriggerTemplate(channel="sms", locale="de", body="+{{ points }} Punkte")
    email_ru = TriggerTemplate(channel="email", subject="Баллы", body="+{{ points }}")
    email_kk = TriggerTemplate(channel="email", locale="kk", subject="Ұпай", body="+{{ points }}")
    email_en = TriggerTemplate(channel="email", locale="en", subject="Points", body="+{{ points }}")
    every = [sms_de, sms_en, email_kk, sms_ru, email_ru, email_en]

    # The customer's locale where the channel has it; the channels in their first order.
    assert pick_templates(every, "en") == [sms_en, email_en]
    assert pick_templates(every, "de") == [sms_de, email_ru]  # no German e-mail: Russian
    assert pick_templates(every, "kk") == [sms_ru, email_kk]
    # No locale (the program's default) and a locale no template has: Russian.
    assert pick_templates(every, None) == pick_templates(every, "fr") == [sms_ru, email_ru]
    assert pick_templates(every, "ru") == [sms_ru, email_ru]
    # Neither the customer's nor Russian: the channel's first, whatever order they come in.
    assert pick_templates([sms_de, sms_en], "fr") == [sms_de]
    assert pick_templates([sms_en, sms_de], None) == [sms_en]
    assert pick_templates([sms_de, sms_ru, sms_en], "en") == [sms_en]
    assert pick_templates([], "en") == []


def test_the_points_an_event_is_about() -> None:
    purchase = {"type": "purchase", "points": -40, "redeemed_points": 100}
    assert points_of("points.accrued", purchase) == 60
    assert points_of("points.accrued", {"type": "accrual", "points": 600}) == 600
    assert points_of("points.redeemed", purchase) == 100
    assert points_of("points.redeemed", {"type": "commit", "points": -70}) == 70


class Keys:
    current_id = "k2"

    def link_key(self, key_id: str) -> bytes | None:
        return {"k1": b"1" * 32, "k2": b"2" * 32}.get(key_id)


def test_an_unsubscribe_token_names_its_customer_and_channel_and_cannot_be_forged() -> None:
    from uuid import uuid4

    from processing.core.triggers import Channel

    customer = uuid4()
    token = unsubscribe_token(Keys(), customer, Channel.email)
    read = read_token(Keys(), token)
    assert read is not None
    assert (read.customer_id, read.channel) == (customer, Channel.email)
    assert read_token(Keys(), token.replace(".email.", ".sms.")) is None
    assert read_token(Keys(), token.replace(customer.hex, uuid4().hex)) is None
    assert read_token(Keys(), token.replace(".k2.", ".k9.")) is None
    assert read_token(Keys(), "not-a-token") is None


def test_birthdays_ahead_cover_the_turn_of_the_year_and_29_february() -> None:
    assert birthdays_within(date(2026, 12, 30), 3) == [
        ("12-30", 2026),
        ("12-31", 2026),
        ("01-01", 2027),
        ("01-02", 2027),
    ]
    assert birthdays_within(date(2027, 2, 27), 1) == [("02-27", 2027), ("02-28", 2027),
                                                      ("02-29", 2027)]  # fmt: skip
    assert birthdays_within(date(2028, 2, 28), 1) == [("02-28", 2028), ("02-29", 2028)]


def test_every_outbox_event_has_a_trigger_and_every_trigger_a_default_kind() -> None:
    """A message on any outbox event (issue 19): a new event type without its trigger fails
    here, not silently in production."""
    assert {event.value for event in EventType} <= set(TRIGGER_EVENTS.values())
    assert set(DEFAULT_KINDS) == set(Trigger) == set(TRIGGER_EVENTS)
