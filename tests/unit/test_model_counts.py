"""Counts sent as floats: ``credits.used: 500.5`` used to fail the whole org. An integral float is
the integer it spells (500.0 is 500); a fractional one is rounded half up, with a note the Raw
tab shows; NaN, infinities, negatives, booleans and strings are still refused. Every count."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from cuadra_top.api.models import describe_validation_error, parse_usage

DOC = {
    "storage": {"used": 524288000, "limit": 53687091200},
    "credits": {"used": 7500, "limit": 50000, "available": 42500, "overageCredits": 0, "purchasedBalance": 100000,
                "totalAvailable": 142500},
    "plan": {"tier": "pro"},
    "seats": {"count": 5, "creditsPerSeat": 10000},
}
COUNTS = ["storage.used", "storage.limit", "credits.used", "credits.limit", "credits.available",
          "credits.overageCredits", "credits.purchasedBalance", "credits.totalAvailable", "seats.count",
          "seats.creditsPerSeat"]
ATTRIBUTE = {"overageCredits": "overage_credits", "purchasedBalance": "purchased_balance",
             "totalAvailable": "total_available", "creditsPerSeat": "credits_per_seat"}


def with_(path: str, value: object, base: dict = DOC) -> dict:
    doc = copy.deepcopy(base)
    parent, key = path.split(".")
    doc[parent][key] = value
    return doc


def value_at(usage, path: str):
    parent, key = path.split(".")
    return getattr(getattr(usage, parent), ATTRIBUTE.get(key, key))


@pytest.mark.parametrize("path", COUNTS)
def test_an_integral_float_is_the_integer(path):
    usage = parse_usage(with_(path, 500.0))
    value = value_at(usage, path)
    assert value == 500 and type(value) is int
    assert usage.notes == []


@pytest.mark.parametrize("path", COUNTS)
def test_a_fractional_count_is_rounded_half_up_with_a_note(path):
    usage = parse_usage(with_(path, 500.5))
    value = value_at(usage, path)
    assert value == 501 and type(value) is int
    assert usage.notes == [f"{path} 500.5 rounded to 501"]


def test_rounding_is_half_up_not_to_even():
    assert parse_usage(with_("credits.used", 0.5)).credits.used == 1
    assert parse_usage(with_("credits.used", 2.5)).credits.used == 3
    assert parse_usage(with_("credits.used", 2.49)).credits.used == 2


def test_a_huge_integral_float_is_exact():
    assert parse_usage(with_("storage.used", 1e20)).storage.used == 10**20


def test_seat_fields_in_other_shapes_are_noted_by_where_they_land():
    doc = copy.deepcopy(DOC)
    del doc["seats"]
    doc["seatCount"] = 4.5
    usage = parse_usage(doc)
    assert usage.seats.count == 5 and usage.notes == ["seats.count 4.5 rounded to 5"]


def test_several_notes_in_document_order():
    doc = with_("credits.used", 10.25, with_("storage.used", 1.75))
    assert parse_usage(doc).notes == ["storage.used 1.75 rounded to 2", "credits.used 10.25 rounded to 10"]


@pytest.mark.parametrize("path", COUNTS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), -1.0, -0.5, -500.5, True, "500",
                                   "500.5", [500]], ids=repr)
def test_still_refused(path, value):
    with pytest.raises(ValidationError) as info:
        parse_usage(with_(path, value))
    assert describe_validation_error(info.value).startswith(path)


def test_an_api_field_called_notes_is_kept_apart():
    """The API may add a `notes` field of its own: it stays an unknown field, shown raw."""
    doc = copy.deepcopy(DOC)
    doc["notes"] = "from the API"
    usage = parse_usage(with_("credits.used", 1.5, doc))
    assert usage.unknown_fields["notes"] == "from the API"
    assert usage.notes == ["credits.used 1.5 rounded to 2"]
