"""Property tests: whatever the API sends, nothing raises past the layer meant to catch it.

- Any JSON value, and any mutation of a valid usage document (keys deleted, values replaced by
  random JSON, huge, negative or fractional numbers), either parses into a ``Usage`` or raises
  ``pydantic.ValidationError``, which ``describe_validation_error`` turns into one line.
- Every ``Usage`` that parses renders through the formatters, the ``--once`` table and JSON,
  the gauges, the label/value layout, the overview row and the header and status lines.
- The HTTP layer: any bytes as a body decode or raise ``ProtocolError``; any status and body
  become a typed error without raising.

The TUI's side is in tests/tui/test_properties_tui.py."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from cuadra_top import format as fmt
from cuadra_top.api.client import Fetched
from cuadra_top.api.errors import ApiError, AuthError, ProtocolError, RateLimited, ServerError
from cuadra_top.api.http import Answer, error_for, retry_after_seconds
from cuadra_top.api.models import Usage, describe_validation_error, parse_usage
from cuadra_top.once import available_cell, credits_cell, json_org, render_json, render_table, storage_cell, table_row
from cuadra_top.state.fleet import OrgResult
from cuadra_top.state.poller import OrgState
from cuadra_top.tui.gauge import gauge_line
from cuadra_top.tui.header import header_text, status_text
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.panes import layout_pairs
from properties_support import (  # what the unit and the TUI tests of this topic share
    NOW,
    PROPERTY,
    _doc,
    any_float,
    texts,
)


big_ints = st.one_of(st.integers(), st.integers(min_value=2**53, max_value=10**40),
                     st.integers(min_value=-(10**40), max_value=-1), st.sampled_from([10**400, -(10**400), 2**64]))


numbers = st.one_of(big_ints, st.floats(allow_nan=False, allow_infinity=False))


scalars = st.one_of(st.none(), st.booleans(), numbers, texts)


json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(texts, children, max_size=5)),
    max_leaves=25,
)


counts = st.one_of(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**30))


limits = st.one_of(st.none(), st.just(0), counts)


iso_times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                         timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-12)),
                                                    timezone(timedelta(hours=14))])).map(lambda d: d.isoformat())


@st.composite
def valid_documents(draw) -> dict[str, Any]:
    """A usage document the models accept (most of the time: the period may be out of order)."""
    credits: dict[str, Any] = {"used": draw(counts), "limit": draw(limits)}
    for key, strategy in (("available", st.none() | counts), ("overageCredits", st.none() | counts),
                          ("isInOverage", st.none() | st.booleans()), ("hardCap", st.none() | st.booleans()),
                          ("purchasedBalance", st.none() | counts), ("totalAvailable", st.none() | counts),
                          ("billingPeriod", st.none() | texts), ("periodStart", st.none() | iso_times),
                          ("periodEnd", st.none() | iso_times), ("seatCount", counts),
                          ("creditsPerSeat", counts)):
        if draw(st.booleans()):
            credits[key] = draw(strategy)
    doc: dict[str, Any] = {
        "storage": {"used": draw(counts), "limit": draw(limits)},
        "credits": credits,
        "plan": {"tier": draw(texts)},
    }
    if draw(st.booleans()):
        doc["plan"]["name"] = draw(st.none() | texts)
    if draw(st.booleans()):
        doc["plan"]["billingCycle"] = draw(st.none() | texts)
    seats = draw(st.sampled_from(["none", "object", "count", "top-level"]))
    if seats == "object":
        doc["seats"] = {"count": draw(counts), "creditsPerSeat": draw(st.none() | counts)}
    elif seats == "count":
        doc["seats"] = draw(counts)
    elif seats == "top-level":
        doc["seatCount"], doc["creditsPerSeat"] = draw(counts), draw(counts)
    if draw(st.booleans()):
        doc[draw(texts)] = draw(json_values)
    return doc


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a JSON value, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, prefix + (index,))
    return found


def _set(doc: Any, path: tuple, new: Any, delete: bool = False) -> Any:
    if not path:
        return new
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


replacements = st.one_of(json_values, big_ints, st.integers(max_value=-1), st.floats(allow_nan=False),
                         st.sampled_from([10**400, 1e308, -0.0, 0.5, True, "", "123", [], {}]))


@st.composite
def mutated_documents(draw) -> Any:
    doc = draw(valid_documents())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if path and draw(st.booleans()):
            doc = _set(doc, path, None, delete=True)
        else:
            doc = _set(doc, path, draw(replacements))
    return doc


def fetched(usage: Usage, raw: Any, at: datetime = NOW) -> Fetched:
    return Fetched(usage=usage, raw=raw, fetched_at=at, elapsed=0.01)


def render_everything(usage: Usage, raw: Any) -> None:
    """Every view of a usage; any exception fails the property."""
    credits, storage = usage.credits, usage.storage
    for value in (credits.fraction, storage.fraction):
        assert value is None or isinstance(value, float)
    for text in (
        fmt.thousands(credits.used), fmt.thousands(credits.limit), fmt.thousands(credits.available_now),
        fmt.thousands(credits.total_available_now), fmt.thousands(credits.overage),
        fmt.iec_bytes(storage.used), fmt.iec_bytes(storage.limit), fmt.percent(credits.fraction),
        fmt.percent(storage.fraction), fmt.time_left(credits.period_end, NOW), fmt.short_date(credits.period_start),
        fmt.short_date(credits.period_end), usage.plan.label,
    ):
        assert isinstance(text, str)
    fmt.period_fraction(credits.period_start, credits.period_end, NOW)
    assert isinstance(credits.in_overage, bool)
    admin = usage.admin
    if admin is not None:
        fmt.thousands(admin.seat_count), fmt.thousands(admin.seat_credits)
    assert isinstance(usage.unknown_fields, dict)

    ok = OrgResult("org", fetched(usage, raw), None, NOW)
    failed = OrgResult("broken", None, ServerError("server error 503: down"), NOW)
    for cell in (credits_cell(usage), storage_cell(usage), available_cell(usage), *table_row(ok, NOW)):
        assert isinstance(cell, str) and "\n" not in cell
    table = render_table([ok, failed], NOW)
    assert len(table.splitlines()) == 3
    text = render_json([ok, failed])
    assert json.loads(text)["orgs"][0]["usage"] == json.loads(json.dumps(raw))
    json_org(ok)

    for width in (0, 1, 10, 40, 200):
        for fraction in (credits.fraction, storage.fraction):
            line = gauge_line(fraction, width)
            assert len(line.bar) <= max(width, 0)
    items = [("used", fmt.thousands(credits.used)), ("limit", fmt.thousands(credits.limit)),
             ("tier", usage.plan.tier), ("plan", usage.plan.name or "—")]
    for width in (1, 20, 80):
        assert layout_pairs(items, width)

    for state in (
        OrgState("org", fetched=fetched(usage, raw)),
        OrgState("org", fetched=fetched(usage, raw, NOW - timedelta(days=400)), error=AuthError("401"),
                 error_at=NOW, stopped=True),
        OrgState("org", fetched=fetched(usage, raw), error=RateLimited("429", retry_after=30), error_at=NOW,
                 next_poll_at=NOW + timedelta(seconds=30), failures=3),
    ):
        header_text(state, NOW, 30.0, (1, 2)).plain
        status_text(state, NOW)
        OverviewTable().row_for(1, state, NOW, 30.0)


def parse_or_explain(data: Any) -> Usage | None:
    try:
        return parse_usage(data)
    except ValidationError as exc:
        line = describe_validation_error(exc)
        assert isinstance(line, str) and line and "\n" not in line
        return None


@PROPERTY
@given(json_values)
def test_any_json_value_parses_or_is_explained(value):
    usage = parse_or_explain(value)
    if usage is not None:
        render_everything(usage, value)


@PROPERTY
@given(mutated_documents())
@example(_doc(storage__used=10**400))
@example(_doc(credits__used=2**63, credits__limit=1))
@example(_doc(credits__used=2**63 - 1, credits__limit=1))
@example(_doc(storage__limit=10**30, storage__used=0))
@example(_doc(plan__tier="\x1b[2J\x1b]0;pwned\x07", plan__name="a\nb\x1ec\x9bd"))
@example(_doc(credits__periodStart="2026-05-01T00:00:00Z", credits__periodEnd="2026-04-01T00:00:00Z"))
@example(_doc(credits__periodStart="0001-01-01T00:00:00Z", credits__periodEnd="9999-12-31T23:59:59Z"))
@example(_doc(credits__used=1.5))
@example(_doc(credits__used=True))
def test_mutated_documents_parse_or_are_explained_and_render(doc):
    usage = parse_or_explain(doc)
    if usage is not None:
        render_everything(usage, doc)


@PROPERTY
@given(valid_documents())
def test_valid_documents_render(doc):
    usage = parse_or_explain(doc)
    assume(usage is not None)  # a period may be drawn out of order
    render_everything(usage, doc)


@PROPERTY
@given(valid_documents())
def test_a_document_survives_the_wire(doc):
    """Serialised as the API would and read back by the HTTP layer: the same outcome."""
    body = json.dumps(doc).encode()
    data = Answer(200, httpx.Headers({"content-type": "application/json"}), body).json()
    usage = parse_or_explain(data)
    if usage is not None:
        render_everything(usage, data)


any_number = st.one_of(st.none(), any_float, big_ints)


@PROPERTY
@given(any_number)
def test_formatters_never_raise(value):
    for text in (fmt.thousands(value), fmt.iec_bytes(value), fmt.age(value if not isinstance(value, int) else None),
                 fmt.duration(value if not isinstance(value, int) else None)):
        assert isinstance(text, str)
    if value is None or isinstance(value, float):
        assert isinstance(fmt.percent(value), str)
        assert isinstance(fmt.duration(value, precision=1), str) and isinstance(fmt.age(value), str)


headers = st.one_of(
    st.just(httpx.Headers({"content-type": "application/json"})),
    st.just(httpx.Headers({"content-type": "text/html"})),
    st.just(httpx.Headers({"content-type": "application/problem+json", "retry-after": "30"})),
    st.builds(lambda ra: httpx.Headers({"retry-after": ra}), st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                                                      max_size=40)),
    st.just(httpx.Headers({})),
)


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    mutated_documents().map(lambda d: json.dumps(d).encode()),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(min_value=0, max_value=5000)),
    st.sampled_from([b"NaN", b'{"a": Infinity}', b"\xef\xbb\xbf{}", b'"\\ud800"', b"<!DOCTYPE html><p>x",
                     b'{"title": "t", "detail": "Missing required scope: usage:read"}', b"\xff\xfe{}"]),
)


@PROPERTY
@given(st.integers(min_value=100, max_value=599), headers, bodies)
def test_answer_json_returns_or_raises_protocol_error(status, hdrs, body):
    answer = Answer(status, hdrs, body)
    try:
        value = answer.json()
    except ProtocolError as exc:
        assert exc.message and "\n" not in exc.message
        return
    # Whatever it returns prints: strict JSON, no lone surrogates.
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


@PROPERTY
@given(st.integers(min_value=100, max_value=599), headers, bodies)
def test_error_for_any_answer_never_raises(status, hdrs, body):
    error = error_for(Answer(status, hdrs, body), "https://api.cuadra.ai/v1/usage")
    assert isinstance(error, ApiError)
    assert error.message and "\n" not in error.message
    error.message.encode("utf-8")  # printable
    assert error.as_dict()["kind"] == error.kind
    if isinstance(error, RateLimited) and error.retry_after is not None:
        assert error.retry_after >= 0


@PROPERTY
@given(st.one_of(st.none(), st.text(max_size=40), st.integers().map(str), st.floats().map(str)))
def test_retry_after_parsing_never_raises(value):
    seconds = retry_after_seconds(value)
    assert seconds is None or seconds >= 0 or math.isnan(seconds)


def test_lone_surrogates_from_the_wire_become_replacement_characters():
    body = b'{"plan": {"tier": "pro \\ud800"}, "note": "\\udfff", "ok": "\\ud83d\\ude80"}'
    data = Answer(200, httpx.Headers({}), body).json()
    assert data == {"plan": {"tier": "pro \ufffd"}, "note": "\ufffd", "ok": "\U0001f680"}


@pytest.mark.parametrize("body", [b"NaN", b'{"used": Infinity}', b"[-Infinity]"])
def test_non_standard_json_constants_are_refused(body):
    with pytest.raises(ProtocolError, match="not valid JSON"):
        Answer(200, httpx.Headers({}), body).json()


def test_deep_nesting_is_a_protocol_error_not_a_crash():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ProtocolError, match="nested"):
        Answer(200, httpx.Headers({}), deep).json()
    assert isinstance(error_for(Answer(503, httpx.Headers({}), deep), "https://x/v1/usage"), ServerError)


def test_control_characters_never_reach_the_screen_but_raw_keeps_them():
    doc = _doc(plan__tier="pro\x1b[2J", plan__name="Pro\nplan\x9b")
    usage = parse_usage(doc)
    assert usage.plan.tier == "pro\ufffd[2J" and usage.plan.name == "Pro\ufffdplan\ufffd"
    assert "\x1b" not in usage.plan.label
    row = table_row(OrgResult("org", fetched(usage, doc), None, NOW), NOW)
    assert all("\x1b" not in cell and "\n" not in cell for cell in row)
    assert json.loads(render_json([OrgResult("org", fetched(usage, doc), None, NOW)]))["orgs"][0]["usage"] == doc
    error = error_for(Answer(500, httpx.Headers({}), b'{"detail": "down\\u001b[2J\\u009b now"}'), "https://x")
    assert error.message == "server error 500: down\ufffd[2J\ufffd now"


def test_huge_byte_counts_format_without_overflow():
    assert fmt.iec_bytes(10**400).endswith(" EiB") and fmt.iec_bytes(-(10**400)).endswith(" EiB")
    assert fmt.iec_bytes(5 * 1024**6) == "5.0 EiB" and fmt.iec_bytes(1023) == "1023 B"

