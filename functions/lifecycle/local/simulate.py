"""`lifecycle simulate`: the whole lifecycle of a set of sample customers over simulated time.

A sample world (simulation.json: customers, what they order, how their mailboxes behave) plays
out over moto on a simulated clock. The business's side is written to the Customers and Orders
tables as its own systems would; everything the product does follows from infra/template.yaml
alone: stream records reach the functions subscribed to that table, the template's Schedule
and ScheduleV2 events fire at their times, and one-time EventBridge Scheduler schedules that
handlers create fire when the clock reaches them. A new function in the template with a stream
or schedule event joins the simulation with no change here.

It prints a day-by-day timeline of every message sent or skipped (with the reason) and what
the world did, then a KPI summary and the retention report as of the simulation's end.
Rendered emails are written for a person to open.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import html
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import time_machine
from boto3.dynamodb.types import TypeSerializer

from lifecycle import retention_report
from lifecycle.adapters.promo import DynamoPromoCodes
from lifecycle.adapters.ses import tag_pairs
from lifecycle.campaign_control import Campaigns, CampaignStatus, StackNames
from lifecycle.local import announcements
from lifecycle.local.mailbox import (
    Delivered,
    SentEmail,
    html_lang,
    sent_emails,
    sent_sms,
    write_messages,
)
from lifecycle.local.schedule import occurrences
from lifecycle.local.serve import function_url_event
from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    REPO_ROOT,
    TEMPLATE,
    FunctionSpec,
    Invocation,
    LocalContext,
    LocalStack,
    local_aws,
    logs_to,
)
from lifecycle.messaging.renderer import Renderer
from lifecycle.platform.settings import CoreSettings
from lifecycle.privacy import mask_email, mask_phone
from lifecycle.profiles import promo
from lifecycle.reporting.gather import ReportTables, Settings, Written, write_report
from lifecycle.stages.announcements.campaign import CampaignError
from lifecycle.stages.feedback.journey import LOW_SCORE
from lifecycle.stages.retention.journey import WINBACK_SPECS
from lifecycle.stages.subscribers.preference_centre import centre as preference_centre

WORLD = Path(__file__).with_name("simulation.json")
# The campaign functions' sending rate here. Their pacing waits for send slots on the real
# clock (time.time), which the simulation freezes at each happening: a high rate keeps every
# wait for a slot a fraction of a millisecond.
LOCAL_CAMPAIGN_SEND_RATE = "1000"
CAMPAIGN_FUNCTIONS = ("CampaignPlannerFunction", "CampaignSenderFunction")


_SERIALIZER = TypeSerializer()
_WINBACK_TEMPLATES = frozenset(spec.template for spec in WINBACK_SPECS)


class WorldError(ValueError):
    """The sample world file is malformed; the message says where."""


@dataclass(frozen=True, order=True)
class Happening:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass(frozen=True)
class Line:
    at: datetime
    text: str


@dataclass
class Order:
    order_id: str
    customer_id: str
    total: Decimal
    status: str = "scheduled"


@dataclass(frozen=True)
class ReceivedCode:
    """A promo code as a customer read it in an email: which message, on which day."""

    code: str  # as the email shows it (groups of four)
    template: str
    day: int


@dataclass
class Report:
    start: date
    days: int
    lines: list[Line]
    ledger: dict[str, dict[str, str]]
    customers: dict[str, dict[str, Any]]
    orders: dict[str, Order]
    currency: str
    bounces: int
    complaints: int
    unsubscribes: int
    parked: int
    wiring: list[str]
    ratings: list[int] = field(default_factory=list)  # every order's rating, as stored
    alerts: int = 0  # complaint alerts that reached the staff inbox
    # Customers per lifecycle stage at the end (none: the stack keeps no profiles), and the
    # stage changes recorded over the run.
    stages: Counter[str] | None = None
    stage_changes: int = 0
    codes_redeemed: int = 0  # promo codes customers entered that their order redeemed
    # The retention report as of the simulation's end (none: the stack keeps no profiles).
    retention: retention_report.Report | None = None
    campaigns: list[announcements.Outcome] = field(default_factory=list)

    def sent(self) -> list[dict[str, str]]:
        return [r for r in self.ledger.values() if r.get("status") == "sent"]


class Progress:
    """A progress bar on a terminal; a line every quarter elsewhere (CI logs)."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self._stream = stream
        self._total = max(total, 1)
        self._tty = bool(stream and stream.isatty())
        self._shown = -1

    def update(self, day: int, messages: int) -> None:
        if self._stream is None:
            return
        done = min(day, self._total)
        if self._tty:
            filled = done * 30 // self._total
            bar = "#" * filled + "-" * (30 - filled)
            self._stream.write(f"\r[{bar}] day {done}/{self._total}, {messages} messages ")
            self._stream.flush()
        elif done * 4 // self._total > self._shown:
            self._shown = done * 4 // self._total
            self._stream.write(f"simulating: day {done}/{self._total}, {messages} messages\n")

    def finish(self) -> None:
        if self._stream is not None and self._tty:
            self._stream.write("\n")


def load_world(path: Path) -> dict[str, Any]:
    try:
        world: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WorldError(f"{path}: {exc}") from None
    for key in ("start", "currency", "catalogue", "customers"):
        if key not in world:
            raise WorldError(f"{path}: missing {key!r}")
    return world


class Simulation:
    def __init__(
        self,
        world: dict[str, Any],
        *,
        days: int,
        seed: int,
        stack: LocalStack,
        progress: Progress,
    ) -> None:
        self.world = world
        self.days = days
        self.rng = random.Random(seed)  # noqa: S311 - a repeatable sample world, not security
        self.stack = stack
        self.progress = progress
        self.start = date.fromisoformat(world["start"])
        self.customers = {c["customer_id"]: c for c in world["customers"]}
        self.queue: list[Happening] = []
        self.seq = 0
        self.lines: list[Line] = []
        self.ledger: dict[str, dict[str, str]] = {}
        self.orders: dict[str, Order] = {}
        self.known_schedules: set[tuple[str, str, str]] = set()
        self.emails_seen = self.sms_seen = 0
        # Every email and SMS as its recipient got it, for the index page.
        self.delivered: list[Delivered] = []
        self.bounces = self.complaints = self.unsubscribes = 0
        self.complained: set[str] = set()
        self.functions = stack.functions()
        # The stack's own renderer settings: which copy locale an SMS was written in.
        core = CoreSettings.from_env(self.functions[0].environment)
        self.renderer = Renderer(core.templates_dir, core.default_locale, core.business)
        self.asked: Counter[str] = Counter()  # feedback requests each customer has had
        self.alerts = 0
        self.staff_cases = 0  # complaint alerts staff have seen (who answers which: _plan_staff)
        self.stage_changes_seen: set[str] = set()
        # The win-back code each customer last received by email (and the first email that
        # showed it), and the codes entered on orders whose redemption is yet to be read.
        self.codes_received: dict[str, ReceivedCode] = {}
        self.codes_entered: list[tuple[str, str, ReceivedCode]] = []
        self.redeemed = 0
        # The functions that write profiles (the stack's PROFILES_TABLE, if it has one).
        self.profile_writers = {
            spec.logical_id for spec in self.functions if spec.environment.get("PROFILES_TABLE")
        }
        self.staff_inbox = self._subscribe_staff()
        self.end = self._moment(self.days, "00:00", "UTC")
        # The world's announcement campaigns, what the timeline last said of each, and the
        # prospects each reached (customers with no order when it went).
        try:
            self.campaigns = announcements.load(
                world.get("campaigns", []),
                self.start,
                REPO_ROOT,
                LOCAL_PARAMETERS["DefaultTimezone"],
            )
        except ValueError as error:
            raise WorldError(str(error)) from None
        self.campaign_seen: dict[str, CampaignStatus] = {}
        self.prospects_reached: dict[str, set[str]] = {}
        self.new_schedules: list[tuple[str, str, datetime]] = []

    # ------------------------------------------------------------------ planning
    def _moment(self, day: int, clock: str, zone: str) -> datetime:
        local = datetime.combine(self.start + timedelta(days=day), time.fromisoformat(clock))
        return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)

    def _push(self, at: datetime, kind: str, **data: Any) -> None:
        # In UTC: the timeline is, and the ledger's `updated_at` strings compare as UTC (a
        # schedule's moment in its own zone would also move the process's TZ under time travel).
        at = at.astimezone(UTC)
        if at < self.end:
            self.seq += 1
            heapq.heappush(self.queue, Happening(at, self.seq, kind, data))

    def plan(self) -> None:
        for customer in self.world["customers"]:
            zone = customer.get("timezone") or LOCAL_PARAMETERS["DefaultTimezone"]
            signup = int(customer.get("signup_day", 0))
            self._push(
                self._moment(signup, customer.get("signup_time", "09:00"), zone),
                "signup",
                customer=customer,
            )
            if "turns_off_marketing_on_day" in customer:
                day = int(customer["turns_off_marketing_on_day"])
                self._push(self._moment(day, "12:30", zone), "marketing_off", customer=customer)
            if "one_click_unsubscribe_on_day" in customer:
                day = int(customer["one_click_unsubscribe_on_day"])
                self._push(self._moment(day, "20:10", zone), "one_click", customer=customer)
            self._plan_orders(customer, zone)
        for planned in self.campaigns:
            self._push(planned.scheduled_at, "campaign", planned=planned)
        start = self._moment(0, "00:00", "UTC")
        for spec in self.functions:
            for source in spec.schedules:
                for moment in occurrences(source.expression, source.timezone, start, self.end):
                    self._push(moment, "schedule", function=spec.logical_id, source=source)

    def _plan_orders(self, customer: dict[str, Any], zone: str) -> None:
        every = customer.get("orders_every_days")
        if not every or "first_order_day" not in customer:
            return
        stop = int(customer.get("stops_ordering_after_day", self.days))
        day, number = int(customer["first_order_day"]), 1
        last_activity: int | None = None  # the day of the last order's delivery (or placement)
        while day < min(stop, self.days):
            last_activity = self._plan_order(customer, zone, day, number)
            day += int(every) + self.rng.choice([-1, 0, 0, 0, 1, 2])
            number += 1
        idle = customer.get("returns_after_idle_days")
        if idle is not None and last_activity is not None:
            # Days without an order count from the last order's delivery, as the product
            # counts them: the day it turns at risk, then dormant, comes from the same clock.
            self._plan_order(
                customer,
                zone,
                last_activity + int(idle),
                number,
                cancellable=False,
                with_code=bool(customer.get("returns_with_code", False)),
            )

    def _plan_order(
        self,
        customer: dict[str, Any],
        zone: str,
        day: int,
        number: int,
        *,
        cancellable: bool = True,
        with_code: bool = False,
    ) -> int:
        """Plan one order and its progress; the day it was last active (delivered, or placed
        and cancelled)."""
        order_id = f"o-{customer['customer_id'][2:]}-{number:02d}"
        placed = self._moment(
            day,
            f"{self.rng.randint(7, 21):02d}:{self.rng.choice(['05', '20', '35', '50'])}",
            zone,
        )
        items = self._basket()
        total = sum((Decimal(i["unit_price"]) * i["quantity"] for i in items), Decimal(0))
        plan = {"customer": customer, "order_id": order_id, "items": items, "total": total}
        self._push(placed, "order_placed", **plan, zone=zone, day=day, with_code=with_code)
        if cancellable and self.rng.random() < 0.05:
            self._push(placed + timedelta(hours=3), "order_status", **plan, status="cancelled")
            return day
        steps = [
            (1, "09:40", "picked_up"),
            (1, "14:00", "in_process"),
            (2, "10:15", "ready"),
            (2, "17:05", "out_for_delivery"),
            (2, "18:25", "delivered"),
        ]
        for offset, clock, status in steps:
            when = self._moment(day + offset, clock, zone)
            self._push(when, "order_status", **plan, status=status)
        return day + 2

    def _basket(self) -> list[dict[str, Any]]:
        picks = self.rng.sample(self.world["catalogue"], k=self.rng.randint(1, 3))
        return [
            {
                "name": p["name"],
                "quantity": self.rng.randint(1, int(p.get("max_quantity", 3))),
                "unit_price": Decimal(p["unit_price"]),
            }
            for p in picks
        ]

    # ------------------------------------------------------------------ running
    def run(self) -> Report:
        self.plan()
        while self.queue:
            happening = heapq.heappop(self.queue)
            with time_machine.travel(happening.at, tick=False):
                before = len(self.stack.invocations)
                self._apply(happening)
                self._settle(happening.at, before)
            day = (happening.at - self._moment(0, "00:00", "UTC")).days
            self.progress.update(day, sum(1 for r in self.ledger.values() if r["status"] == "sent"))
        self.progress.update(
            self.days, sum(1 for r in self.ledger.values() if r["status"] == "sent")
        )
        self.progress.finish()
        return Report(
            start=self.start,
            days=self.days,
            lines=self.lines,
            ledger=self.ledger,
            customers=self.customers,
            orders=self.orders,
            currency=self.world["currency"],
            bounces=self.bounces,
            complaints=self.complaints,
            unsubscribes=self.unsubscribes,
            parked=len(self.stack.failures),
            wiring=self._wiring(),
            ratings=self._stored_ratings(),
            alerts=self.alerts,
            stages=self._stages(),
            stage_changes=len(self.stage_changes_seen),
            codes_redeemed=self.redeemed,
            retention=self._retention_report(),
            campaigns=self._campaign_outcomes(),
        )

    # ------------------------------------------------------------------ campaigns
    def _campaign_control(self) -> Campaigns:
        """The campaign commands over the local stack (the planner's environment names it all)."""
        planner = self.stack.function("CampaignPlannerFunction")
        return Campaigns(self.stack.client, StackNames.from_environment(planner.environment))

    def _schedule_campaign(self, happening: Happening) -> None:
        """A marketer schedules a reviewed campaign (`lifecycle campaign schedule`)."""
        planned: announcements.WorldCampaign = happening.data["planned"]
        campaign = planned.campaign
        try:
            starts = self._campaign_control().schedule(campaign, now=happening.at)
        except CampaignError as error:
            self._say(happening.at, f"campaign  {campaign.id} NOT scheduled: {error}")
            return
        self.prospects_reached[campaign.id] = set()
        self._say(
            happening.at,
            f'campaign  {campaign.id} scheduled ({planned.source}): "{campaign.name}", '
            f"{planned.when()}",
        )
        self._say(happening.at, f"          {planned.describe()}")
        self._say(
            happening.at,
            f"          its start schedule plans the audience {starts:%a %Y-%m-%d %H:%M} UTC, "
            f"in time for the first time zone (UTC+14) to reach {campaign.send.local_time:%H:%M}"
            if campaign.send.local
            else f"          its start schedule plans the audience {starts:%a %Y-%m-%d %H:%M} UTC",
        )

    def _read_campaigns(self, at: datetime, before: int) -> None:
        """After campaign functions ran: the release schedules the planner made, and what
        `lifecycle campaign status` would show as moved."""
        fresh, self.new_schedules = self.new_schedules, []
        ran = {made.function for made in self.stack.invocations[before:]}
        if not self.prospects_reached or not ran & set(CAMPAIGN_FUNCTIONS):
            return
        control = self._campaign_control()
        for campaign_id in self.prospects_reached:
            releases = [
                moment
                for group, name, moment in fresh
                if group == control.names.schedule_group
                and name.startswith(f"{campaign_id}-")
                and name != f"{campaign_id}-start"
            ]
            status = control.status(campaign_id)
            line = announcements.progress(self.campaign_seen.get(campaign_id), status)
            self.campaign_seen[campaign_id] = status
            if line:
                self._say(at, f"campaign  {campaign_id}  {line}")
            if releases:
                times = ", ".join(f"{m:%H:%M}" for m in sorted(releases))
                self._say(
                    at,
                    f"campaign  {campaign_id}  a release schedule per local-time instant: "
                    f"{min(releases):%a} {times} UTC",
                )

    def _campaign_detail(self, row: dict[str, str]) -> str:
        """Which campaign, variant and template a campaign message was, and whether it
        reached a prospect (someone with no order yet)."""
        customer_id = row.get("customer_id", "")
        detail = f"{row['campaign']} variant {row.get('sequence') or '-'}, {row.get('template')}"
        if not any(o.customer_id == customer_id for o in self.orders.values()):
            detail += ", prospect"
            if row["status"] == "sent":
                self.prospects_reached.setdefault(row["campaign"], set()).add(customer_id)
        return detail

    def _campaign_outcomes(self) -> list[announcements.Outcome]:
        if not self.prospects_reached:
            return []
        control = self._campaign_control()
        return [
            announcements.Outcome(
                planned,
                control.status(planned.campaign.id),
                self.prospects_reached[planned.campaign.id],
            )
            for planned in self.campaigns
            if planned.campaign.id in self.prospects_reached
        ]

    def _retention_report(self) -> retention_report.Report | None:
        """`lifecycle retention-report` for the simulation, as of its end."""
        if not self.profile_writers:
            return None
        return retention_report.build(
            self.stack.client("dynamodb"),
            self.stack.table_name("ProfilesTable"),
            window_days=int(self.stack.parameters.get("AttributionWindowDays", 14)),
            timezone=self.stack.parameters.get("DefaultTimezone", "UTC"),
            now=self.end,
        )

    def owners_report(self, out_dir: Path) -> Written:
        """`lifecycle report` for the simulation: its whole run, as of its end."""
        parameters = self.stack.parameters
        tables = ReportTables(
            self.stack.table_name("EngagementTable"),
            self.stack.table_name("ProfilesTable"),
            self.stack.table_name("CampaignsTable"),
            self._table_if("CasesTable"),
        )
        settings = Settings(
            business=parameters.get("BusinessName", "the business"),
            open_tracking=parameters.get("OpenTracking", "off") == "on",
            window_days=int(parameters.get("AttributionWindowDays", 14)),
            timezone=parameters.get("DefaultTimezone", "UTC"),
        )
        return write_report(
            self.stack.client("dynamodb"),
            tables,
            settings,
            source="local simulation (make demo)",
            out_dir=out_dir,
            since=self.start,
            until=self.end.date() - timedelta(days=1),
            now=self.end,
        )

    def _table_if(self, logical_id: str) -> str | None:
        if logical_id not in self.stack.resources("AWS::DynamoDB::Table"):
            return None
        return self.stack.table_name(logical_id)

    def _url_function(self, variable: str) -> FunctionSpec | None:
        """The function serving the links a sender makes from `variable` (`RATINGS_URL`)."""
        for spec in self.functions:
            url = spec.environment.get(variable)
            if url:
                return self.stack.function_by_url(url)
        return None

    def _stored_ratings(self) -> list[int]:
        tables = self.stack.resources("AWS::DynamoDB::Table")
        if "RatingsTable" not in tables:
            return []
        client = self.stack.client("dynamodb")
        return [
            int(item["score"]["N"])
            for page in client.get_paginator("scan").paginate(TableName="RatingsTable")
            for item in page["Items"]
        ]

    def _profile_items(self, prefix: str) -> list[dict[str, str]]:
        client = self.stack.client("dynamodb")
        return [
            {name: str(next(iter(value.values()))) for name, value in item.items()}
            for page in client.get_paginator("scan").paginate(
                TableName="ProfilesTable",
                FilterExpression="begins_with(sk, :p)",
                ExpressionAttributeValues={":p": {"S": prefix}},
            )
            for item in page["Items"]
        ]

    def _stages(self) -> Counter[str] | None:
        """Customers per stage: each profile's, and prospects for customers with none."""
        if not self.profile_writers:
            return None
        stages = Counter(row["stage"] for row in self._profile_items("profile"))
        stages["prospect"] += len(self.customers) - sum(stages.values())
        return stages

    def _read_stage_changes(self, at: datetime, before: int) -> None:
        """The stage changes the profile functions recorded in this happening."""
        ran = {made.function for made in self.stack.invocations[before:]}
        if not ran & self.profile_writers:
            return
        fresh = [
            row
            for row in self._profile_items("stage#")
            if f"{row['customer_id']}#{row['sk']}" not in self.stage_changes_seen
        ]
        for row in sorted(fresh, key=lambda r: r["sk"]):
            self.stage_changes_seen.add(f"{row['customer_id']}#{row['sk']}")
            customer = self.customers.get(row["customer_id"], {})
            who = f"{row['customer_id']} {customer.get('first_name', '')}".strip()
            self._say(at, f"stage     {who}  {row['old']} -> {row['new']}: {row['cause']}")

    def _say(self, at: datetime, text: str) -> None:
        self.lines.append(Line(at, text))

    def _apply(self, happening: Happening) -> None:
        data = happening.data
        table = self.stack.client("dynamodb")
        if happening.kind == "signup":
            customer = data["customer"]
            item = {k: v for k, v in customer.items() if k in _CUSTOMER_ATTRIBUTES}
            item["created_at"] = happening.at.isoformat()
            table.put_item(TableName="CustomersTable", Item=_serialize(item))
            self._say(
                happening.at,
                f"signup    {customer['customer_id']} {customer['first_name']} "
                f"({customer.get('locale', '-')})",
            )
        elif happening.kind == "one_click":
            self._one_click(happening)
        elif happening.kind == "staff":
            self._staff(happening)
        elif happening.kind == "marketing_off":
            customer = data["customer"]
            table.update_item(
                TableName="CustomersTable",
                Key={"customer_id": {"S": customer["customer_id"]}},
                UpdateExpression="SET consent.email_marketing = :off",
                ExpressionAttributeValues={":off": {"BOOL": False}},
            )
            self.unsubscribes += 1
            self._say(
                happening.at,
                f"consent   {customer['customer_id']} {customer['first_name']} turns marketing "
                "email off in the app (Customers MODIFY)",
            )
        elif happening.kind == "order_placed":
            self._place(happening, table)
        elif happening.kind == "order_status":
            self._status(happening, table)
        elif happening.kind == "schedule":
            spec = self.stack.function(data["function"])
            source = data["source"]
            made = self.stack.invoke(
                spec, source.payload(happening.at, spec.logical_id), LocalContext.for_function
            )
            self._report_invocation(happening.at, made, f"{source.name} ({source.expression})")
        elif happening.kind == "one_time":
            self._fire_one_time(happening)
        elif happening.kind == "rate":
            self._rate(happening)
        elif happening.kind == "campaign":
            self._schedule_campaign(happening)

    def _one_click(self, happening: Happening) -> None:
        """The customer taps unsubscribe in their mail app: the provider POSTs the link."""
        customer = happening.data["customer"]
        topic = str(customer.get("one_click_topic", "offers"))
        spec = self._url_function("PREFERENCES_URL")
        who = f"{customer['customer_id']} {customer['first_name']}"
        if spec is None:
            self._say(happening.at, f"consent   {who} cannot unsubscribe: no preference centre")
            return
        with self.stack.environment_of(spec):
            token = preference_centre().signer.token(customer["customer_id"], topic)
        event = function_url_event(
            "POST",
            f"/preferences?t={token}",
            {"host": "preferences.local", "content-type": "application/x-www-form-urlencoded"},
            b"List-Unsubscribe=One-Click",
        )
        with self.stack.environment_of(spec):
            response = spec.load()(event, LocalContext.for_function(spec))
        self.unsubscribes += 1
        self._say(
            happening.at,
            f"consent   {who} unsubscribes from {topic} in one click (RFC 8058 POST) -> "
            f"{spec.logical_id}: {response.get('statusCode')}",
        )

    def _place(self, happening: Happening, table: Any) -> None:
        data = happening.data
        customer, zone = data["customer"], data["zone"]
        pickup_start = self._moment(data["day"] + 1, "09:00", zone)
        order = {
            "order_id": data["order_id"],
            "customer_id": customer["customer_id"],
            "status": "scheduled",
            "updated_at": happening.at.isoformat(),
            "pickup_window": {
                "start": pickup_start.isoformat(),
                "end": (pickup_start + timedelta(hours=2)).isoformat(),
            },
            "delivery_window": {
                "start": self._moment(data["day"] + 2, "18:00", zone).isoformat(),
                "end": self._moment(data["day"] + 2, "20:00", zone).isoformat(),
            },
            "items": data["items"],
            "total": data["total"],
            "currency": self.world["currency"],
        }
        with_code = ""
        if data.get("with_code"):
            received = self.codes_received.get(customer["customer_id"])
            if received is None:
                with_code = "; has no win-back code to enter"
            else:
                # Typed into the booking form, as the email shows it.
                order["promo_code"] = received.code
                self.codes_entered.append((data["order_id"], customer["customer_id"], received))
                with_code = (
                    f"; promo code {received.code} from the {received.template} email of "
                    f"day {received.day}"
                )
        table.put_item(TableName="OrdersTable", Item=_serialize(order))
        self.orders[data["order_id"]] = Order(
            data["order_id"], customer["customer_id"], data["total"]
        )
        local = pickup_start.astimezone(ZoneInfo(zone))
        self._say(
            happening.at,
            f"order     {data['order_id']} placed by {customer['customer_id']} "
            f"{customer['first_name']}: {len(data['items'])} item(s), "
            f"{self.world['currency']} {data['total']:.2f}; pickup {local:%a %H:%M}{with_code}",
        )

    def _status(self, happening: Happening, table: Any) -> None:
        data = happening.data
        order = self.orders.get(data["order_id"])
        if order is None or order.status == "cancelled":
            return
        table.update_item(
            TableName="OrdersTable",
            Key={"order_id": {"S": data["order_id"]}},
            UpdateExpression="SET #s = :s, updated_at = :u",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": {"S": data["status"]},
                ":u": {"S": happening.at.isoformat()},
            },
        )
        order.status = data["status"]
        if data["status"] in ("delivered", "cancelled"):
            self._say(happening.at, f"order     {data['order_id']} {data['status']}")

    def _fire_one_time(self, happening: Happening) -> None:
        scheduler = self.stack.client("scheduler")
        data = happening.data
        try:
            schedule = scheduler.get_schedule(Name=data["name"], GroupName=data["group"])
        except scheduler.exceptions.ResourceNotFoundException:
            return  # deleted before it was due (an order cancelled, say)
        if schedule["ScheduleExpression"] != data["expression"]:
            return  # moved; the new time has its own happening
        target = schedule["Target"]
        spec = self.stack.function_by_arn(target["Arn"])
        if spec is None:
            self._say(happening.at, f"schedule  {data['name']}: target is not a function here")
            return
        payload = json.loads(target.get("Input") or "{}")
        made = self.stack.invoke(spec, payload, LocalContext.for_function)
        self._report_invocation(happening.at, made, f"one-time schedule {data['name']}")
        if schedule.get("ActionAfterCompletion") == "DELETE":
            scheduler.delete_schedule(Name=data["name"], GroupName=data["group"])

    def _report_invocation(self, at: datetime, made: Invocation, what: str) -> None:
        if made.failed_sequence_numbers:
            self._say(
                at, f"schedule  {made.function} {what} FAILED: {made.failed_sequence_numbers[0]}"
            )

    def _settle(self, at: datetime, before: int) -> None:
        """After a happening: deliver stream records, queue new one-time schedules, and
        record what the product did (if any function ran since `before` invocations)."""
        self.stack.pump(LocalContext.for_function)
        self._queue_one_time_schedules()
        self._read_redemptions(at)
        if len(self.stack.invocations) != before or self.stack.failures:
            self._read_ledger(at)
            self._read_staff_inbox(at)
            self._read_stage_changes(at, before)
            self._read_campaigns(at, before)

    def _read_redemptions(self, at: datetime) -> None:
        """What became of the codes customers entered on orders: redeemed on that order, or
        not (the ledger's rejection says why)."""
        if not self.codes_entered:
            return
        codes = DynamoPromoCodes(
            self.stack.client("dynamodb"), self.stack.table_name("ProfilesTable")
        )
        for order_id, customer_id, received in self.codes_entered:
            customer = self.customers.get(customer_id, {})
            who = f"{customer_id} {customer.get('first_name', '')}".strip()
            stored = codes.get(received.code)
            if stored is not None and stored.redeemed_order == order_id:
                self.redeemed += 1
                self._say(
                    at,
                    f"promo     {who}  code {received.code} REDEEMED on {order_id} "
                    f"({stored.programme}, valid until {stored.expires_at:%Y-%m-%d})",
                )
            else:
                state = "unknown code" if stored is None else str(stored.state)
                self._say(
                    at,
                    f"promo     {who}  code {received.code} NOT redeemed on {order_id} ({state})",
                )
        self.codes_entered.clear()

    def _subscribe_staff(self) -> str | None:
        """A queue standing in for the staff's email subscription to the topic functions
        raise alerts on (`COMPLAINTS_TOPIC_ARN`)."""
        arns = {
            spec.environment["COMPLAINTS_TOPIC_ARN"]
            for spec in self.functions
            if spec.environment.get("COMPLAINTS_TOPIC_ARN")
        }
        if not arns:
            return None
        sqs = self.stack.client("sqs")
        queue = str(sqs.create_queue(QueueName="staff-inbox")["QueueUrl"])
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        for arn in sorted(arns):
            self.stack.client("sns").subscribe(
                TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"]
            )
        return queue

    def _read_staff_inbox(self, at: datetime) -> None:
        if self.staff_inbox is None:
            return
        sqs = self.stack.client("sqs")
        while True:
            got = sqs.receive_message(QueueUrl=self.staff_inbox, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return
            for message in messages:
                envelope = json.loads(message["Body"])
                self.alerts += 1
                # What the alert is about travels in its message attributes (subscribers
                # filter on them); the text is for people.
                attributes = {
                    name: str(value.get("Value", ""))
                    for name, value in (envelope.get("MessageAttributes") or {}).items()
                }
                lifetime = ""
                if "lifetime_orders" in attributes:  # complaints say it; escalations do not
                    lifetime = (
                        f" ({attributes['lifetime_orders']} delivered order(s), "
                        f"{attributes.get('lifetime_spend', 'no spend recorded')})"
                    )
                self._say(at, f"ops       ALERT to staff: {envelope.get('Subject')}{lifetime}")
                if attributes.get("kind") == "complaint":
                    self._plan_staff(at, str(envelope.get("Message", "")))
                sqs.delete_message(
                    QueueUrl=self.staff_inbox, ReceiptHandle=message["ReceiptHandle"]
                )

    def _plan_staff(self, at: datetime, text: str) -> None:
        """Staff answer complaints from the alert's links: the first two of every three in
        about an hour or three (acknowledged), resolved the next morning; the third is left
        alone, and the escalation sweep raises it."""
        self.staff_cases += 1
        links = [u for u in re.findall(r"https?://\S+", text) if "/case?" in u]
        if len(links) < 2 or self.staff_cases % 3 == 0:
            return
        acknowledge, resolve = links[0], links[1]
        hours = 1 if self.staff_cases % 3 == 1 else 3
        self._push(at + timedelta(hours=hours), "staff", url=acknowledge, what="acknowledges")
        next_morning = datetime.combine(at.date() + timedelta(days=1), time(10, 30), UTC)
        self._push(next_morning, "staff", url=resolve, what="resolves")

    def _staff(self, happening: Happening) -> None:
        """A person at the business opens a case link from the alert (a browser's GET)."""
        url, what = happening.data["url"], happening.data["what"]
        spec = self.stack.function_by_url(url)
        if spec is None:
            self._say(happening.at, f"ops       staff {what} a case: no function serves the link")
            return
        parts = urlsplit(url)
        person = {"host": parts.netloc, "sec-fetch-mode": "navigate", "sec-fetch-user": "?1"}
        response = self._call(
            spec, function_url_event("GET", f"{parts.path}?{parts.query}", person, None)
        )
        self._say(
            happening.at,
            f"ops       staff {what} the complaint from the alert's link -> {spec.logical_id}: "
            f"{response.get('statusCode')}",
        )

    def _queue_one_time_schedules(self) -> None:
        scheduler = self.stack.client("scheduler")
        for listed in scheduler.list_schedules()["Schedules"]:
            group, name = listed.get("GroupName", "default"), listed["Name"]
            detail = scheduler.get_schedule(Name=name, GroupName=group)
            expression = detail["ScheduleExpression"]
            if (group, name, expression) in self.known_schedules:
                continue
            self.known_schedules.add((group, name, expression))
            zone = detail.get("ScheduleExpressionTimezone", "UTC")
            start = datetime.now(UTC) - timedelta(minutes=1)
            for moment in occurrences(expression, zone, start, self.end):
                self._push(moment, "one_time", group=group, name=name, expression=expression)
                self.new_schedules.append((group, name, moment))
                break

    def _read_ledger(self, at: datetime) -> None:
        client = self.stack.client("dynamodb")
        # Only what changed at this moment: handlers stamp entries with the simulated clock.
        pages = client.get_paginator("scan").paginate(
            TableName="LedgerTable",
            FilterExpression="updated_at >= :now",
            ExpressionAttributeValues={":now": {"S": at.isoformat()}},
        )
        fresh_emails = sent_emails()[self.emails_seen :]
        self.emails_seen += len(fresh_emails)
        fresh_sms = sent_sms()[self.sms_seen :]
        self.sms_seen += len(fresh_sms)
        for page in pages:
            for item in page["Items"]:
                row = {name: str(next(iter(value.values()))) for name, value in item.items()}
                key = row["message_key"]
                old = self.ledger.get(key)
                if old and (old["status"], old.get("reason")) == (row["status"], row.get("reason")):
                    continue
                if old and "deferred_reason" in old:
                    # A skip replaces the item whole: the report still knows it had waited.
                    row.setdefault("deferred_reason", old["deferred_reason"])
                self.ledger[key] = row
                if row["status"] not in ("sent", "skipped", "failed", "deferred"):
                    continue  # claims in flight, markers of handled SES notifications
                self._report_message(at, row, fresh_emails, fresh_sms)

    def _report_message(
        self,
        at: datetime,
        row: dict[str, str],
        fresh: list[SentEmail],
        fresh_sms: list[tuple[str, str]],
    ) -> None:
        customer = self.customers.get(row.get("customer_id", ""), {})
        who = f"{row.get('customer_id', '?')} {customer.get('first_name', '')}".strip()
        stage, channel = row.get("stage", "?"), row.get("channel", "-")
        status = "rejected" if row.get("record_type") == "rejection" else row["status"]
        detail = row.get("reason", "")
        campaign = self._campaign_detail(row) if row.get("campaign") else ""
        if campaign:
            detail = f"{campaign}  {detail}".strip()
        elif stage != "welcome":
            # which order, and which of its messages
            about = " ".join(v for v in (row.get("order_id"), row.get("template")) if v)
            detail = f"{about}  {detail}".strip()
        match = None
        if status == "deferred":
            # When it will go, as the recipient's clock and the timeline's (UTC) read it.
            go = datetime.fromisoformat(row["deliver_at"])
            detail = f"{detail}  -> goes {go:%a %H:%M} UTC".strip()
        if status == "sent" and row.get("deferred_since"):
            waited = datetime.fromisoformat(row["deferred_since"]).astimezone(UTC)
            detail = f"{detail}  (deferred at {waited:%a %H:%M})".strip()
        if status == "sent" and channel == "sms":
            phone = str(customer.get("phone", ""))
            detail = f"{mask_phone(phone)}  {detail}".rstrip()
            text = next((t for p, t in fresh_sms if p == phone), None)
            if text is not None:
                fresh_sms.remove((phone, text))
                self.delivered.append(self._delivered(at, row, customer, text))
        if status == "sent" and channel == "email":
            address = str(customer.get("email", "")).lower()
            match = next((e for e in fresh if e.to.lower() == address), None)
            if match is not None:
                fresh.remove(match)
                day = (at.date() - self.start).days
                stem = re.sub(r"[^A-Za-z0-9_-]+", "-", row["message_key"])
                self.delivered.append(
                    self._delivered(at, row, customer, match.subject, match, f"day{day:03d}-{stem}")
                )
                detail = f'{mask_email(match.to)} "{match.subject}"'
                if stage == "retention":
                    detail = f"{detail}  {self._retention_detail(row, match, day)}"
                elif campaign:
                    detail = f"{detail}  {campaign}"
        self._say(at, f"{stage:<9} {channel:<5} {status.upper():<8} {who}  {detail}".rstrip())
        if match is not None:
            self._mailbox_reacts(at, customer, row)
            if customer.get("mailbox", "delivers") == "delivers" and _is_feedback_request(row):
                self._plan_rating(at, customer, match)

    def _delivered(
        self,
        at: datetime,
        row: dict[str, str],
        customer: dict[str, Any],
        text: str,
        sent: SentEmail | None = None,
        stem: str = "",
    ) -> Delivered:
        """The index's row for a message sent: its copy locale as the email declares it, or
        as the stack's renderer chooses it for the customer (an SMS)."""
        template = row.get("template", "?")
        locale = html_lang(sent.part("html")) if sent is not None else None
        if locale is None:
            wanted = customer.get("locale")
            locale = self.renderer.resolve_locale(template, str(wanted) if wanted else None)
        return Delivered(
            at=at,
            stage=row.get("stage", "?"),
            template=template,
            locale=locale,
            channel=row.get("channel", "-"),
            customer_id=row.get("customer_id", "?"),
            text=text,
            email=sent,
            stem=stem,
            day=(at.date() - self.start).days,
        )

    def _retention_detail(self, row: dict[str, str], sent: SentEmail, day: int) -> str:
        """Which retention message this was, and the code it carries (a win-back code is
        what the customer may come back with)."""
        template = row.get("template", "?")
        code = promo_code_in(sent.part("plain"))
        if code is None:
            return template
        known = self.codes_received.get(row["customer_id"])
        if template in _WINBACK_TEMPLATES and (known is None or known.code != code):
            # The first email that showed it: the offer (the last chance repeats its code).
            self.codes_received[row["customer_id"]] = ReceivedCode(code, template, day)
        return f"{template}, code {code}"

    def _plan_rating(self, at: datetime, customer: dict[str, Any], sent: SentEmail) -> None:
        """The customer may tap a score in the feedback request a few hours later."""
        scores = customer.get("ratings") or []
        asked = self.asked[customer["customer_id"]]
        self.asked[customer["customer_id"]] += 1
        if not scores or scores[asked % len(scores)] is None:
            return
        score = int(scores[asked % len(scores)])
        url = rating_links(sent.part("html")).get(score)
        if url is not None:
            later = at + timedelta(hours=float(customer.get("rates_after_hours", 3)))
            self._push(later, "rate", customer=customer, url=url, score=score)

    def _rate(self, happening: Happening) -> None:
        """A tap on a rating link in the email (a browser's GET), then perhaps a comment."""
        customer, url, score = (happening.data[k] for k in ("customer", "url", "score"))
        who = f"{customer['customer_id']} {customer['first_name']}"
        spec = self.stack.function_by_url(url)
        if spec is None:
            self._say(happening.at, f"rating    {who} taps a link no function serves")
            return
        parts = urlsplit(url)
        target = f"{parts.path}?{parts.query}"
        tap = {"host": parts.netloc, "sec-fetch-mode": "navigate", "sec-fetch-user": "?1"}
        response = self._call(spec, function_url_event("GET", target, tap, None))
        self._say(
            happening.at,
            f"rating    {who} taps {score}/5 in the feedback email -> {spec.logical_id}: "
            f"{response.get('statusCode')}",
        )
        comment = customer.get("rating_comment")
        form_token = re.search(r'name="form_token" value="([^"]+)"', _body(response))
        if comment and score <= LOW_SCORE and form_token:
            form = {
                "host": parts.netloc,
                "origin": f"https://{parts.netloc}",
                "content-type": "application/x-www-form-urlencoded",
            }
            body = urlencode(
                {
                    "form_token": html.unescape(form_token[1]),
                    "action": "comment",
                    "comment": comment,
                }
            )
            posted = self._call(spec, function_url_event("POST", target, form, body.encode()))
            self._say(
                happening.at,
                f"rating    {who} adds a comment on the thank-you page -> {spec.logical_id}: "
                f"{posted.get('statusCode')}",
            )

    def _call(self, spec: FunctionSpec, event: dict[str, Any]) -> dict[str, Any]:
        with self.stack.environment_of(spec):
            response: dict[str, Any] = spec.load()(event, LocalContext.for_function(spec))
        return response

    def _mailbox_reacts(self, at: datetime, customer: dict[str, Any], row: dict[str, str]) -> None:
        """What SES reports back about this email (Send, then Delivery, a Bounce or a
        Complaint, and a Click for some), published to the topic the template's SES
        configuration set sends events to, so the functions on it act on them."""
        stage = row["stage"]
        mailbox = customer.get("mailbox", "delivers")
        topic = self.stack.ses_feedback_topic()
        tags = engagement_tags(row)
        events = ["Send", "Bounce" if mailbox == "bounces" else "Delivery"]
        complains = mailbox == "complains" and customer["customer_id"] not in self.complained
        if complains:  # people press "spam" once, then stop reading
            self.complained.add(customer["customer_id"])
            events.append("Complaint")
        elif mailbox not in ("bounces", "complains") and clicks(row["message_key"]):
            events.append("Click")
        for offset, kind in enumerate(events):
            self.seq += 1
            notification = ses_event(
                kind, customer, row["message_key"], tags, at, offset, f"sim-{self.seq}"
            )
            made = (
                self.stack.publish(topic, json.dumps(notification), LocalContext.for_function)
                if topic
                else []
            )
            if kind not in ("Bounce", "Complaint"):
                continue
            handled = ", ".join(m.function for m in made) or "no function subscribed"
            who = f"{customer['customer_id']} {customer['first_name']}"
            if kind == "Bounce":
                self.bounces += 1
                what = f"BOUNCE    {who}  permanent bounce on the {stage} email"
            else:
                self.complaints += 1
                what = f"COMPLAINT {who}  marked the {stage} email as spam"
            self._say(at, f"ses       {what} -> {handled}")

    def _wiring(self) -> list[str]:
        lines = []
        subscribed = set()
        for spec in self.functions:
            for stream in spec.streams:
                subscribed.add(stream.table)
                lines.append(f"{spec.logical_id} <- {stream.table} stream {list(stream.patterns)}")
            for schedule in spec.schedules:
                lines.append(f"{spec.logical_id} <- {schedule.kind} {schedule.expression}")
            for queue in spec.queues:
                lines.append(
                    f"{spec.logical_id} <- {queue.queue} queue (batch {queue.batch_size}, "
                    f"at most {queue.allowed_concurrency} concurrent)"
                )
        # Functions that one-time schedules invoke: the ones other functions name to target.
        targets = {
            (found.logical_id, variable)
            for spec in self.functions
            for variable, value in spec.environment.items()
            if variable.endswith("_FUNCTION_ARN")
            and (found := self.stack.function_by_arn(value)) is not None
        }
        for logical_id, variable in sorted(targets):
            lines.append(f"{logical_id} <- one-time schedules ({variable})")
        for table, resource in self.stack.resources("AWS::DynamoDB::Table").items():
            if "StreamSpecification" in resource["Properties"] and table not in subscribed:
                lines.append(f"(no function on the {table} stream yet)")
        topic = self.stack.ses_feedback_topic()
        listeners = [spec.logical_id for spec in self.functions if topic and topic in spec.topics]
        if listeners:
            events = "SES events (send, delivery, bounce, complaint, click)"
            lines.append(f"{', '.join(listeners)} <- {events} via {topic}")
        else:
            lines.append("(no function consumes SES bounce and complaint notifications)")
        links = {"PREFERENCES_URL": "unsubscribe links", "RATINGS_URL": "rating links"}
        for variable, what in links.items():
            served = self._url_function(variable)
            if served is not None:
                lines.append(f"{served.logical_id} <- Function URL ({what})")
        if self.staff_inbox:
            lines.append("staff inbox (standing in for ComplaintsEmail) <- complaint alerts topic")
        return lines


def _is_feedback_request(row: dict[str, str]) -> bool:
    return row.get("template") == "feedback_request"


def _is_message(row: dict[str, str]) -> bool:
    return row.get("record_type") == "message"


def _body(response: dict[str, Any]) -> str:
    body = str(response.get("body") or "")
    return base64.b64decode(body).decode() if response.get("isBase64Encoded") else body


_CODE_GROUP = f"[{promo.ALPHABET}]{{{promo.GROUP}}}"
_PROMO_CODE = re.compile(rf"\b{_CODE_GROUP}-{_CODE_GROUP}-{_CODE_GROUP}\b")


def promo_code_in(text: str) -> str | None:
    """The promo code an email shows (as displayed: groups of four), if it shows one."""
    found = _PROMO_CODE.search(text)
    return found[0] if found and promo.normalise(found[0]) else None


def rating_links(html_body: str) -> dict[int, str]:
    """Score -> link, read from a feedback request as a person reads the buttons (the score
    is in the token's visible, signed payload)."""
    links: dict[int, str] = {}
    for href in re.findall(r'href="([^"]+)"', html_body):
        url = html.unescape(href)
        token = parse_qs(urlsplit(url).query).get("t", [""])[0]
        parts = token.split(".")
        if len(parts) != 3:
            continue
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            continue
        if isinstance(claims, dict) and "o" in claims and "s" in claims:
            links[int(claims["s"])] = url
    return links


CLICK_SHARE = 0.3  # of delivered emails, a link in them clicked (decided by the ledger key)


def clicks(message_key: str) -> bool:
    """Whether the sample recipient clicks a link in this email: repeatable, and apart from
    the world's random draws so the rest of the simulation is unchanged."""
    return hashlib.sha256(message_key.encode()).digest()[0] < CLICK_SHARE * 256


def engagement_tags(row: Mapping[str, str]) -> dict[str, list[str]]:
    """The tags the dispatcher set on the email, as SES returns them on its events."""
    tags = {
        "stage": row["stage"],
        "kind": row.get("kind", ""),
        "customer": row["customer_id"],
        "message": row["message_key"],
    }
    if row.get("campaign"):
        tags["campaign"] = row["campaign"]
    if row.get("sequence"):
        tags["variant"] = row["sequence"]
    return {name: [value] for name, value in tag_pairs(tags)}


def ses_event(
    kind: str,
    customer: dict[str, Any],
    message_key: str,
    tags: dict[str, list[str]],
    at: datetime,
    offset: int,
    feedback_id: str,
) -> dict[str, Any]:
    """One SES event as a configuration set publishes it: `kind` is Send, Delivery, Bounce,
    Complaint or Click, `offset` seconds after the email was sent."""
    address = str(customer["email"])
    mail = {
        "timestamp": at.isoformat(),
        "source": LOCAL_PARAMETERS["SenderEmail"],
        "messageId": f"sim-{hashlib.sha256(message_key.encode()).hexdigest()[:24]}",
        "destination": [address],
        "tags": tags,
    }
    stamp = (at + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    details: dict[str, dict[str, Any]] = {
        "Send": {"send": {}},
        "Delivery": {"delivery": {"timestamp": stamp, "recipients": [address]}},
        "Bounce": {
            "bounce": {
                "feedbackId": feedback_id,
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": address, "status": "5.1.1"}],
                "timestamp": stamp,
            }
        },
        "Complaint": {
            "complaint": {
                "feedbackId": feedback_id,
                "complaintFeedbackType": "abuse",
                "complainedRecipients": [{"emailAddress": address}],
                "timestamp": stamp,
            }
        },
        "Click": {
            "click": {
                "timestamp": stamp,
                "link": f"{LOCAL_PARAMETERS['BusinessWebsite']}?utm_source=lifecycle",
                "ipAddress": "192.0.2.1",
                "userAgent": "Mozilla/5.0",
            }
        },
    }
    return {"eventType": kind, "mail": mail, **details[kind]}


_CUSTOMER_ATTRIBUTES = {
    "customer_id",
    "email",
    "phone",
    "first_name",
    "locale",
    "timezone",
    "consent",
}


def _serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _SERIALIZER.serialize(value) for key, value in item.items()}


# ---------------------------------------------------------------------- printing
def print_report(report: Report, out: TextIO) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    end = report.start + timedelta(days=report.days - 1)
    say(
        f"Simulation: {report.days} days, {report.start} to {end}, "
        f"{len(report.customers)} sample customers"
    )
    say("Wiring read from infra/template.yaml:")
    for wire in report.wiring:
        say(f"  {wire}")
    say()
    say("Timeline (times UTC)")
    current: date | None = None
    for line in report.lines:
        day = line.at.date()
        if day != current:
            current = day
            say(f"Day {(day - report.start).days:>3}  {day:%a %Y-%m-%d}")
        say(f"  {line.at:%H:%M}  {line.text}")
    say()
    print_kpis(report, out)
    for outcome in report.campaigns:
        say()
        for text in announcements.summary(outcome, report.ledger):
            say(text)
    if report.retention is not None:
        say()
        say(retention_report.render(report.retention))


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   n/a"


def print_kpis(report: Report, out: TextIO) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    sent = report.sent()
    by_stage = Counter((r.get("stage", "?"), r.get("channel", "-")) for r in sent)
    stages = sorted({stage for stage, _ in by_stage})
    say(f"KPI summary, {report.days} days")
    say(f"  {'messages sent':<22}{'email':>7}{'sms':>7}{'total':>7}")
    for stage in stages:
        email, sms = by_stage[(stage, "email")], by_stage[(stage, "sms")]
        say(f"    {stage:<20}{email:>7}{sms:>7}{email + sms:>7}")
    emails = sum(n for (_, channel), n in by_stage.items() if channel == "email")
    texts = sum(n for (_, channel), n in by_stage.items() if channel == "sms")
    say(f"    {'all stages':<20}{emails:>7}{texts:>7}{emails + texts:>7}")
    skipped = Counter(
        r.get("reason", "")
        for r in report.ledger.values()
        if r["status"] == "skipped" and _is_message(r)
    )
    rejected = sum(1 for r in report.ledger.values() if r.get("record_type") == "rejection")
    failed = sum(1 for r in report.ledger.values() if r["status"] == "failed" and _is_message(r))
    reasons = ", ".join(f"{reason} x{n}" for reason, n in skipped.most_common()) or "none"
    say(
        f"  not sent: {sum(skipped.values())} skipped ({reasons}); "
        f"{rejected} record(s) rejected as bad data; {failed} failed; "
        f"{report.parked} batch(es) parked in a failure queue"
    )
    _deferral_kpis(report, say)
    delivered = emails - report.bounces
    say(f"  {'email delivery rate':<24}{_rate(delivered, emails)}  ({delivered} of {emails})")
    say(f"  {'bounce rate':<24}{_rate(report.bounces, emails)}  ({report.bounces})")
    say(f"  {'complaint rate':<24}{_rate(report.complaints, emails)}  ({report.complaints})")
    signed_up = len(report.customers)
    say(
        f"  {'unsubscribe rate':<24}{_rate(report.unsubscribes, signed_up)}  "
        f"({report.unsubscribes} of {signed_up} customers unsubscribed or turned marketing off)"
    )
    _feedback_kpis(report, say)
    if report.stages is not None:
        order = ("prospect", "new", "active", "loyal", "at_risk", "dormant", "won_back")
        counts = ", ".join(f"{stage} {report.stages[stage]}" for stage in order)
        say(f"  {'customers per stage':<24}{counts}")
        say(f"  {'stage changes':<24}{report.stage_changes:>6}")
        say(
            f"  {'codes redeemed':<24}{report.codes_redeemed:>6}  (promo codes from win-back "
            "emails that customers entered on an order)"
        )
    delivered_orders = [o for o in report.orders.values() if o.status == "delivered"]
    cancelled = sum(1 for o in report.orders.values() if o.status == "cancelled")
    value = sum((o.total for o in delivered_orders), Decimal(0))
    buyers = {o.customer_id for o in report.orders.values()}
    ltv = value / signed_up if signed_up else Decimal(0)
    say(
        f"  {'orders':<24}{len(report.orders):>6}  ({len(delivered_orders)} delivered, "
        f"{cancelled} cancelled, {len(buyers)} customers ordered)"
    )
    say(
        f"  {'lifetime value':<24}{report.currency} {ltv:.2f} per customer on average "
        f"({report.currency} {value:.2f} delivered in all)"
    )


def _deferral_kpis(report: Report, say: Callable[[str], None]) -> None:
    """Deferred messages (quiet hours, the marketing cap) and what became of them: each keeps
    why it was deferred (`deferred_reason`)."""
    deferred = [row for row in report.ledger.values() if "deferred_reason" in row]
    if not deferred:
        say("  deferred: none")
        return
    why = Counter(
        "quiet hours" if row["deferred_reason"].startswith("quiet hours") else "marketing cap"
        for row in deferred
    )
    became = Counter(row["status"] for row in deferred)
    causes = ", ".join(f"{cause} x{n}" for cause, n in sorted(why.items()))
    say(
        f"  deferred: {len(deferred)} ({causes}): {became['sent']} sent later, "
        f"{became['skipped']} skipped when due, {became['deferred']} still waiting at the end"
    )


def _feedback_kpis(report: Report, say: Callable[[str], None]) -> None:
    requests = [r for r in report.ledger.values() if _is_feedback_request(r)]
    asked = sum(1 for r in requests if r["status"] == "sent")
    quiet = sum(1 for r in requests if r.get("reason", "").startswith("feedback requested"))
    ratings = report.ratings
    average = f"{sum(ratings) / len(ratings):.2f} of 5" if ratings else "n/a"
    spread = " ".join(f"{n}*:{ratings.count(n)}" for n in range(5, 0, -1))
    sent = Counter(r.get("template") for r in report.ledger.values() if r["status"] == "sent")
    apologies, referrals = sent["feedback_apology"], sent["referral_ask"]
    say(
        f"  {'feedback response rate':<24}{_rate(len(ratings), asked)}  ({len(ratings)} rated "
        f"of {asked} requests sent; {quiet} skipped within the quiet period)"
    )
    say(f"  {'average rating':<24}{average:>6}  ({spread})")
    say(
        f"  {'complaints':<24}{report.alerts:>6}  alert(s) to staff, {apologies} apology email(s); "
        f"{referrals} referral ask(s) after a 5"
    )


# Nobody taps a case link in the sample world, so every complaint escalates; a sweep every 15
# minutes would be 96 idle invocations a simulated day, each settled like any happening: it
# made a 10-day run 20 times slower for the same story. The simulation sweeps once a day, so
# an escalation shows up at most a day late there (deployed: EscalationSweepMinutes, 15).
SIMULATED_PARAMETERS = {"EscalationSweepMinutes": "1440"}


def simulate(
    *,
    days: int = 120,
    seed: int = 7,
    world_path: Path = WORLD,
    template: Path = TEMPLATE,
    parameters: Mapping[str, str] | None = None,
    out_dir: Path = Path("out/simulate"),
    out: TextIO = sys.stdout,
    progress: TextIO | None = sys.stderr,
    report_dir: Path | None = None,
) -> Report:
    """Run the sample world for `days` and print the timeline, the KPIs and the retention
    report, and write the owner's report (to `report_dir`, by default `out_dir/report`).
    `parameters`: template parameters set over the local stack's (LOCAL_PARAMETERS)."""
    if days < 1:
        raise WorldError("the simulation needs at least one day")
    world = load_world(world_path)
    with local_aws(), logs_to(out_dir / "lambda-logs.jsonl") as log:
        stack = LocalStack.deployed(
            {**LOCAL_PARAMETERS, **SIMULATED_PARAMETERS, **(parameters or {})}, path=template
        )
        stack.stdout = log
        for name in CAMPAIGN_FUNCTIONS:
            stack.overrides.setdefault(name, {})["CAMPAIGN_SEND_RATE"] = LOCAL_CAMPAIGN_SEND_RATE
        simulation = Simulation(
            world, days=days, seed=seed, stack=stack, progress=Progress(progress, days)
        )
        report = simulation.run()
        print_report(report, out)
        index = write_messages(
            out_dir / "emails", simulation.delivered, "Emails and SMS sent in the simulation"
        )
        owner = simulation.owners_report(report_dir or out_dir / "report")
    print(f"\nRendered emails: {index}; handler logs: {out_dir / 'lambda-logs.jsonl'}", file=out)
    print(
        f"Owner's report: {owner.path} ({owner.size / 1024:.0f} KiB, built in "
        f"{owner.seconds:.1f} s)",
        file=out,
    )
    return report
