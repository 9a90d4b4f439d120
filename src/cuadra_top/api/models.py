"""Pydantic models of the `GET /v1/usage` response.

The models are strict about what matters to a monitor (numbers are non-negative integers,
the billing period ends after it starts) and open about everything else: fields they do not
name are kept in ``model_extra`` so a raw view can show what the API added later.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    PrivateAttr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from cuadra_top.format import printable
from cuadra_top.redaction import redact

_NOTES = "notes"
"""Key of the validation context's list of notes (see :func:`parse_usage`)."""
_PATH_OF_MODEL = {"Storage": "storage", "Credits": "credits", "Seats": "seats"}


def _whole(value: Any, info: ValidationInfo) -> Any:
    """A float count becomes an integer: 500.0 is 500, and 500.5 is rounded half up to 501
    with a note, since a monitor is better off showing it than failing the org. Anything else
    (NaN, an infinity, a bool, a string) is left for StrictInt to refuse, and a negative float
    stays negative for ``ge=0`` to refuse."""
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    whole = math.floor(value + 0.5) if value >= 0 else math.floor(value)
    if whole != value and value >= 0 and info.context is not None and _NOTES in info.context:
        model = _PATH_OF_MODEL.get(str(info.config.get("title") if info.config else ""), "")
        field = to_camel(info.field_name or "?")
        info.context[_NOTES].append(f"{model}.{field} {value!r} rounded to {whole}" if model else
                                    f"{field} {value!r} rounded to {whole}")
    return whole


Count = Annotated[StrictInt, Field(ge=0), BeforeValidator(_whole)]
"""A credit count or a byte size: an integer, never negative, never a bool or a string; a
float that spells an integer is taken, a fractional one rounded with a note."""
def _shown(text: str) -> str:
    return redact(printable(text))


Shown = Annotated[str, AfterValidator(_shown)]
"""A string the screens and the table show: control characters replaced and every known
secret masked (an API that echoes the token in ``plan.name``); ``raw`` keeps them as sent."""


class _Open(BaseModel):
    """Base: camelCase on the wire, unknown fields kept, frozen once parsed."""

    model_config = ConfigDict(
        extra="allow", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


def _limit_of(limit: int | None) -> int | None:
    """A limit of 0 or null means unlimited; normalise both to None."""
    return limit or None


class _Quota(_Open):
    """Something used against a limit (credits, bytes); 0 or null means unlimited."""

    used: Count
    limit: Count | None

    @property
    def unlimited(self) -> bool:
        return _limit_of(self.limit) is None

    @property
    def fraction(self) -> float | None:
        """used/limit (may exceed 1.0 in overage), or None when unlimited."""
        limit = _limit_of(self.limit)
        return None if limit is None else ratio(self.used, limit)


def ratio(a: int, b: int) -> float:
    """a/b of two counts, inf when it exceeds a float (Count has no upper bound)."""
    try:
        return a / b
    except OverflowError:
        return math.inf


class Storage(_Quota):
    """Bytes."""


class Credits(_Quota):
    available: Count | None = None
    overage_credits: Count | None = None
    is_in_overage: StrictBool | None = None
    hard_cap: StrictBool | None = None
    purchased_balance: Count | None = None
    total_available: Count | None = None
    billing_period: Shown | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    @field_validator("period_start", "period_end")
    @classmethod
    def _assume_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value

    @model_validator(mode="after")
    def _period_in_order(self) -> Credits:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("periodEnd is before periodStart")
        return self

    @property
    def available_now(self) -> int | None:
        """Subscription credits left: the API's figure, else derived; None when unlimited."""
        if self.available is not None:
            return self.available
        limit = _limit_of(self.limit)
        return None if limit is None else max(limit - self.used, 0)

    @property
    def in_overage(self) -> bool:
        if self.is_in_overage is not None:
            return self.is_in_overage
        limit = _limit_of(self.limit)
        return limit is not None and self.used > limit

    @property
    def overage(self) -> int:
        if self.overage_credits is not None:
            return self.overage_credits
        limit = _limit_of(self.limit)
        return max(self.used - limit, 0) if limit is not None else 0

    @property
    def total_available_now(self) -> int | None:
        """Subscription plus purchased credits, when the API tells the purchased balance."""
        if self.total_available is not None:
            return self.total_available
        if self.purchased_balance is None:
            return None
        available = self.available_now
        return None if available is None else available + self.purchased_balance


class Plan(_Open):
    tier: Shown
    name: Shown | None = None
    billing_cycle: Shown | None = None

    @property
    def label(self) -> str:
        """"Pro (pro)", or just the tier when the API gives no name."""
        if self.name and self.name.lower() != self.tier.lower():
            return f"{self.name} ({self.tier})"
        return self.name or self.tier


class Seats(_Open):
    count: Count | None = Field(None, validation_alias=AliasChoices("count", "seatCount"))
    credits_per_seat: Count | None = None


class Admin(BaseModel):
    """What an admin credential sees beyond everyone else; None fields were not sent."""

    model_config = ConfigDict(frozen=True)

    seat_count: int | None
    credits_per_seat: int | None
    purchased_balance: int | None

    @property
    def seat_credits(self) -> int | None:
        """Seats x credits per seat: what the seats imply against the plan limit."""
        if self.seat_count is None or self.credits_per_seat is None:
            return None
        return self.seat_count * self.credits_per_seat


class Usage(_Open):
    storage: Storage
    credits: Credits
    plan: Plan
    seats: Seats | None = None
    _notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """What parsing changed, one line each ("credits.used 500.5 rounded to 501"), for the
        raw view. Not a field: an API field called ``notes`` stays an unknown field."""
        return self._notes

    @model_validator(mode="after")
    def _keep_notes(self, info: ValidationInfo) -> Usage:
        if info.context is not None:
            self._notes.extend(info.context.get(_NOTES, ()))
        return self

    @model_validator(mode="before")
    @classmethod
    def _gather_seat_fields(cls, data: Any) -> Any:
        """Accept the seat fields in every shape NOTES.md lists, into one ``seats`` object.

        `seats` may be an object or a bare count; `seatCount` / `creditsPerSeat` may stand at
        the top level or inside `credits`.
        """
        if not isinstance(data, dict):
            return data
        data = dict(data)
        seats = data.get("seats")
        merged: dict[str, Any] = {}
        if isinstance(seats, dict):
            merged.update(seats)
        elif seats is not None:
            merged["count"] = seats
        credits = data.get("credits")
        for source in (data, credits if isinstance(credits, dict) else {}):
            if "seatCount" in source and "count" not in merged:
                merged["count"] = source["seatCount"]
            if "creditsPerSeat" in source and "creditsPerSeat" not in merged:
                merged["creditsPerSeat"] = source["creditsPerSeat"]
        data.pop("seatCount", None)
        data.pop("creditsPerSeat", None)
        if merged:
            data["seats"] = merged
        return data

    @property
    def admin(self) -> Admin | None:
        """The admin-only fields, or None for a credential that sees none of them."""
        seats = self.seats
        admin = Admin(
            seat_count=seats.count if seats else None,
            credits_per_seat=seats.credits_per_seat if seats else None,
            purchased_balance=self.credits.purchased_balance,
        )
        if admin.seat_count is None and admin.credits_per_seat is None and admin.purchased_balance is None:
            return None
        return admin

    @property
    def unknown_fields(self) -> dict[str, Any]:
        """Every field, at any level, that the models do not name (dotted path -> value)."""
        found: dict[str, Any] = {}
        for prefix, model in (("", self), ("storage.", self.storage), ("credits.", self.credits),
                              ("plan.", self.plan), ("seats.", self.seats)):
            for key, value in (model.model_extra or {}).items() if model is not None else ():
                found[prefix + key] = value
        return found


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first offending field the way the API spells it, e.g.
    ``credits.used: Input should be greater than or equal to 0``."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "response"
    message = first["msg"]
    if first["type"] == "missing":
        message = "required field is missing"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more)" if more else ""
    return printable(f"{location}: {message}{suffix}")


def parse_usage(data: Any) -> Usage:
    """Validate a decoded JSON body; raises pydantic.ValidationError. What had to be adjusted
    on the way (a fractional count rounded) is in ``Usage.notes``."""
    return Usage.model_validate(data, context={_NOTES: []})
