"""Model edge values: limits of 0/null, overage, missing and wrong fields, unknown fields kept."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from cuadra_top.api.models import describe_validation_error, parse_usage

DOC_EXAMPLE = {
    "storage": {"used": 524288000, "limit": 53687091200},
    "credits": {
        "used": 7500, "limit": 50000, "available": 42500, "overageCredits": 0, "isInOverage": False,
        "hardCap": False, "purchasedBalance": 100000, "totalAvailable": 142500, "billingPeriod": "monthly",
        "periodStart": "2026-04-01T00:00:00Z", "periodEnd": "2026-04-30T23:59:59Z",
    },
    "plan": {"tier": "pro", "name": "Pro", "billingCycle": "monthly"},
}

SEED_EXAMPLE = {
    "storage": {"used": 524288000, "limit": 1073741824},
    "credits": {"used": 7500, "limit": 50000, "available": 42500, "billingPeriod": "monthly",
                "periodStart": "2025-12-01T00:00:00Z", "periodEnd": "2025-12-31T23:59:59Z"},
    "plan": {"tier": "pro", "name": "Professional", "billingCycle": "monthly"},
}


def with_(base: dict, path: str, value: object) -> dict:
    doc = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


def test_doc_example_parses_with_every_field():
    usage = parse_usage(DOC_EXAMPLE)
    assert usage.credits.used == 7500
    assert usage.credits.fraction == pytest.approx(0.15)
    assert usage.credits.total_available_now == 142500
    assert usage.credits.period_end == datetime(2026, 4, 30, 23, 59, 59, tzinfo=timezone.utc)
    assert usage.storage.fraction == pytest.approx(524288000 / 53687091200)
    assert usage.plan.label == "Pro"
    assert usage.admin is not None and usage.admin.purchased_balance == 100000
    assert usage.unknown_fields == {}


def test_seed_example_is_not_admin():
    usage = parse_usage(SEED_EXAMPLE)
    assert usage.admin is None
    assert usage.plan.label == "Professional (pro)"
    assert usage.credits.total_available_now is None


@pytest.mark.parametrize("limit", [0, None])
def test_zero_or_null_limit_means_unlimited(limit):
    usage = parse_usage(with_(with_(SEED_EXAMPLE, "credits.limit", limit), "storage.limit", limit))
    assert usage.credits.unlimited and usage.storage.unlimited
    assert usage.credits.fraction is None and usage.storage.fraction is None
    assert not usage.credits.in_overage
    assert usage.credits.overage == 0


def test_used_above_limit_is_overage_not_an_error():
    doc = with_(with_(SEED_EXAMPLE, "credits.used", 60000), "credits.available", 0)
    usage = parse_usage(doc)
    assert usage.credits.fraction == pytest.approx(1.2)
    assert usage.credits.in_overage
    assert usage.credits.overage == 10000


def test_api_overage_flags_win_over_derivation():
    doc = with_(with_(DOC_EXAMPLE, "credits.isInOverage", True), "credits.overageCredits", 12)
    usage = parse_usage(doc)
    assert usage.credits.in_overage and usage.credits.overage == 12


def test_available_derived_when_absent():
    usage = parse_usage(with_(SEED_EXAMPLE, "credits.available", KeyError))
    assert usage.credits.available_now == 42500


@pytest.mark.parametrize(
    "path, value, field",
    [
        ("credits.used", KeyError, "credits.used"),
        ("storage", KeyError, "storage"),
        ("plan.tier", KeyError, "plan.tier"),
        ("credits.used", -1, "credits.used"),
        ("storage.used", -5, "storage.used"),
        ("credits.used", "lots", "credits.used"),
        ("credits.used", True, "credits.used"),
        ("credits.limit", -1.5, "credits.limit"),
        ("credits.periodStart", "yesterday", "credits.periodStart"),
    ],
)
def test_bad_fields_are_named(path, value, field):
    with pytest.raises(ValidationError) as info:
        parse_usage(with_(SEED_EXAMPLE, path, value))
    message = describe_validation_error(info.value)
    assert message.startswith(field), message


def test_period_end_before_start_is_an_error():
    doc = with_(SEED_EXAMPLE, "credits.periodEnd", "2025-11-01T00:00:00Z")
    with pytest.raises(ValidationError) as info:
        parse_usage(doc)
    assert "periodEnd is before periodStart" in describe_validation_error(info.value)


def test_unknown_fields_are_kept_at_every_level():
    doc = with_(SEED_EXAMPLE, "restrictions", {"maxAgents": 5})
    doc = with_(doc, "credits.rolloverCredits", 3)
    doc = with_(doc, "plan.region", "eu")
    usage = parse_usage(doc)
    assert usage.unknown_fields == {"restrictions": {"maxAgents": 5}, "credits.rolloverCredits": 3, "plan.region": "eu"}
    assert usage.model_extra == {"restrictions": {"maxAgents": 5}}


@pytest.mark.parametrize(
    "shape",
    [
        {"seats": {"count": 40, "creditsPerSeat": 12500}},
        {"seatCount": 40, "creditsPerSeat": 12500},
        {"credits": {"seatCount": 40, "creditsPerSeat": 12500}},
        {"seats": 40, "creditsPerSeat": 12500},
    ],
)
def test_seat_fields_in_every_documented_shape(shape):
    doc = copy.deepcopy(SEED_EXAMPLE)
    for key, value in shape.items():
        if key == "credits":
            doc["credits"].update(value)
        else:
            doc[key] = value
    admin = parse_usage(doc).admin
    assert admin is not None
    assert admin.seat_count == 40 and admin.credits_per_seat == 12500
    assert admin.seat_credits == 500000


def test_naive_timestamps_are_taken_as_utc():
    doc = with_(SEED_EXAMPLE, "credits.periodStart", "2025-12-01T00:00:00")
    assert parse_usage(doc).credits.period_start.tzinfo is not None
