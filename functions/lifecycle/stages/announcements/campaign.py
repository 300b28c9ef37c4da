"""A campaign: a reviewed file under `campaigns/` (`campaigns/<id>.yaml`), validated into this
model. `lifecycle campaign schedule` stores the validated campaign (as JSON) in the Campaigns
table; the planner and the senders read it from there, never the file, so what goes out is
what was reviewed and scheduled. Pure: no boto3, no YAML (the CLI reads the file).

    id: eco-wash-launch            # the file's name, and the ledger keys' campaign#<id>#...
    name: Eco wash launch
    channels: [email]              # email and/or sms, in order: the first each recipient takes
    audience:                      # every condition given must hold (all optional)
      stages: [prospect, active, loyal]   # lifecycle stages; prospect = no order yet
      locales: [en, nl]            # language (nl matches nl-BE) or exact tag
      attributes: {city: [Amsterdam, Utrecht]}   # Customers attributes, one of the values
      orders: {min: 1, max: 20}    # delivered orders
      last_order: {within_days: 90}   # or not_within_days
    send:
      at: 2026-12-10T09:00:00Z     # one instant for everyone, or:
      # date: 2026-12-10           # each recipient at this local time in their time zone
      # local_time: "10:00"
    message:
      template: campaign_eco_wash  # templates/<folder>, its subject and copy per locale
      link: https://freshfold.example/eco
      details: {launch_day: "Monday 14 December"}   # strings the templates show
    variants:                      # optional A/B(/n): 2 to 5, shares adding up to 1
      - {name: A, share: 0.5}
      - {name: B, share: 0.5, template: campaign_eco_wash_b}
    holdout: 0.1                   # share of the audience that gets nothing (for lift)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from datetime import date as Day
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lifecycle.messaging.message import Channel

# At most 50 characters: its schedules' names (`<id>-start`, `<id>-20261210T0900`) must fit
# Scheduler's 64.
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
TEMPLATE = re.compile(r"^campaign_[a-z0-9_]{1,60}$")
STAGES = ("prospect", "new", "active", "loyal", "at_risk", "dormant", "won_back")
# A share is read to this precision: the shares of a split must add up to 1 within it.
_EPSILON = 1e-9


class CampaignError(ValueError):
    """A campaign file or stored campaign that is not valid; the message names each problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Orders(_Strict):
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Orders:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class LastOrder(_Strict):
    within_days: Annotated[int, Field(ge=1)] | None = None  # ordered in the last N days
    not_within_days: Annotated[int, Field(ge=1)] | None = None  # and not in the last N days

    @model_validator(mode="after")
    def _one(self) -> LastOrder:
        if self.within_days is None and self.not_within_days is None:
            raise ValueError("give within_days or not_within_days")
        return self


class Audience(_Strict):
    stages: tuple[Literal[STAGES], ...] | None = None  # type: ignore[valid-type]
    locales: tuple[Annotated[str, Field(min_length=2)], ...] | None = None
    attributes: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    orders: Orders | None = None
    last_order: LastOrder | None = None

    @property
    def needs_profile(self) -> bool:
        """Whether matching reads the customer's profile (stage and orders), not only their
        Customers row."""
        wants_stage = self.stages is not None and set(self.stages) != set(STAGES)
        return wants_stage or self.orders is not None or self.last_order is not None


class Send(_Strict):
    at: datetime | None = None
    date: Day | None = None
    local_time: time | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Send:
        if self.at is not None and (self.date is not None or self.local_time is not None):
            raise ValueError("give either at, or date and local_time, not both")
        if self.at is None and (self.date is None or self.local_time is None):
            raise ValueError("give at (an instant), or date and local_time")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at needs a time zone offset (2026-12-10T09:00:00Z)")
        return self

    @property
    def local(self) -> bool:
        return self.at is None

    def instant_in(self, zone: Any) -> datetime:
        """When a recipient in `zone` (a ZoneInfo) gets it, in UTC. A local time that does not
        exist that day (the hour the clocks skip) goes at the same offset as before the jump;
        one that happens twice goes the first time."""
        if self.at is not None:
            return self.at.astimezone(UTC)
        assert self.date is not None
        assert self.local_time is not None
        wall = datetime.combine(self.date, self.local_time)
        first = wall.replace(tzinfo=zone, fold=0)
        return first.astimezone(UTC)


def _not_a_placeholder(link: str) -> str:
    host = link.removeprefix("https://").split("/", 1)[0].split(":", 1)[0].lower()
    if host.endswith(".invalid") or host == "invalid":
        raise ValueError("is a placeholder (.invalid never resolves): set the campaign's page")
    return link


class Message(_Strict):
    template: Annotated[str, Field(pattern=TEMPLATE.pattern)]
    link: Annotated[str, Field(pattern=r"^https://\S+$"), AfterValidator(_not_a_placeholder)]
    details: dict[str, str] = Field(default_factory=dict)


class Variant(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")]
    share: Annotated[float, Field(gt=0, le=1)]
    template: Annotated[str, Field(pattern=TEMPLATE.pattern)] | None = None


class Campaign(_Strict):
    id: str
    name: Annotated[str, Field(min_length=1, max_length=200)]
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    audience: Audience = Field(default_factory=Audience)
    send: Send
    message: Message
    variants: tuple[Variant, ...] = ()
    holdout: Annotated[float, Field(ge=0, lt=1)] = 0.0

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID.match(value):
            raise ValueError("lower-case letters, digits and dashes, up to 50 characters")
        return value

    @model_validator(mode="after")
    def _split(self) -> Campaign:
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise ValueError("channels: one or more of email, sms, each once")
        if self.variants:
            if not 2 <= len(self.variants) <= 5:
                raise ValueError("variants: give 2 to 5, or none")
            names = [variant.name for variant in self.variants]
            if len(set(names)) != len(names):
                raise ValueError("variants: each needs its own name")
            total = sum(variant.share for variant in self.variants)
            if abs(total - 1) > _EPSILON:
                raise ValueError(f"variants: shares add up to {total:g}, not 1")
        return self

    def templates(self) -> dict[str, str]:
        """Each variant's template folder, by variant name ("" when there are no variants)."""
        if not self.variants:
            return {"": self.message.template}
        return {v.name: v.template or self.message.template for v in self.variants}

    def instants(self, zones: Any) -> list[datetime]:
        """The distinct UTC instants the campaign goes at for recipients in these zones
        (ZoneInfo objects): one schedule each."""
        return sorted({self.send.instant_in(zone) for zone in zones})

    def latest_start(self) -> datetime:
        """The earliest moment any recipient anywhere could be due (for local time: the
        first zone to reach it, UTC+14), when planning must have begun."""
        if self.send.at is not None:
            return self.send.at.astimezone(UTC)
        assert self.send.date is not None
        assert self.send.local_time is not None
        return datetime.combine(self.send.date, self.send.local_time, UTC) - timedelta(hours=14)


def parse(data: Any, source: str = "campaign") -> Campaign:
    """The campaign these values describe, or CampaignError naming every problem
    (`source: field.path: what is wrong`)."""
    if not isinstance(data, dict):
        raise CampaignError(f"{source}: a campaign is a mapping of fields (id, name, send, ...)")
    try:
        return Campaign.model_validate(data)
    except ValidationError as error:
        raise CampaignError("\n".join(problems(error, source))) from None


def problems(error: ValidationError, source: str) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "campaign"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "missing"
        elif item["type"] == "extra_forbidden":
            message = "not a campaign field (a typo?)"
        lines.append(f"{source}: {where}: {message}")
    return lines
