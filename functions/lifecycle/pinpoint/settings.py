"""Pinpoint campaigns and journeys as this product's campaign files and contact-policy settings,
with a report of what differs. Pure: it reads parsed GetCampaign, GetJourney and GetSegment
responses (`{"CampaignResponse": {...}}` or the object inside) and returns text and settings;
`write` puts the campaign files under `campaigns/`.

What is carried, and how:

- A one-time campaign (`Schedule.Frequency` ONCE) becomes `campaigns/<id>.yaml`, its id from its
  name (lower case, runs of anything but letters and digits as one `-`, up to 50). `StartTime`
  is `send.at`; with `IsLocalTime`, `send.date` and `send.local_time` are StartTime's wall clock
  at the schedule's starting offset (`Timezone`, `UTC+01`), which each recipient then gets at
  that time in their own zone.
- Its treatments are `variants`: the default treatment (`TreatmentName`, its
  `TemplateConfiguration`) and each of `AdditionalTreatments`. Pinpoint gives each treatment
  and the holdout a percentage of the segment (`SizePercent`, `HoldoutPercent`); the default
  treatment gets what the others leave. This product draws the holdout first and splits the
  rest, so a treatment's share is its percentage over (100 - HoldoutPercent).
- A treatment's email template (else its SMS template) names its folder
  (`mapping.template_folder`); the channels are those it has templates for, email first.
- With the campaign's segment given (by `SegmentId`), the segment's dimensions that have an
  equivalent are its `audience`: attributes and user attributes with INCLUSIVE values (as the
  Customers attribute the mapping gives them, else their name in snake case), an attribute
  named Locale or Language as `locales`, `Location.Country` when the mapping carries it, and
  `Demographic.Channel` as the channels. Without it the audience is empty (everyone who
  consents), reported so the marketer writes it.
- A campaign has no link of its own (its links are in its templates): `message.link` is the
  business website when given, else an address under `.invalid` (a name that never resolves),
  and reported either way.
- Quiet time, limits and rates are stack-wide settings here (`PolicySetting`): QuietTime ->
  `QuietHours` (and `QuietHoursMarketingEmail`, since Pinpoint's quiet time held back email
  too); `Limits.Daily`, a journey's `DailyCap` or `TimeframeCap` -> `MarketingCapEmail` /
  `MarketingCapSms`; a campaign's `MessagesPerSecond` -> `CampaignSendRate`. Where campaigns
  disagree, the most protective value is proposed and the others reported.
- Recurring and event-triggered campaigns and journeys (waits, splits, conditions) have no
  one-to-one equivalent: each is reported with the lifecycle stage that covers its use, its
  steps and its templates (`JourneyReport`); their quiet time and caps are carried.

Problems are of the kinds below; bad input is a problem, never an exception.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lifecycle.pinpoint.mapping import RESERVED, Mapping, template_folder
from lifecycle.pinpoint.report import Outcome, Problem, write_files
from lifecycle.stages.announcements import campaign as model

DIFFERS = "differs"  # carried, but it behaves differently here
NOT_CARRIED = "not carried"  # has an equivalent the import could not fill in
NO_EQUIVALENT = "no equivalent"  # nothing here works that way
TO_REVIEW = "to review"  # carried with a value a person must check
BAD_INPUT = "bad input"  # the input is not what GetCampaign / GetJourney / GetSegment return

# The first line of every file the import writes: `write` replaces only files that have it.
MARKER = "# Imported from Amazon Pinpoint by `lifecycle import pinpoint`"
# A host that can never resolve (RFC 6761): the link of a campaign whose real link is unknown.
UNKNOWN_LINK = "https://set-the-campaign-link.invalid/{id}"

# Stack parameter -> the environment variable the functions read.
PARAMETERS = {
    "QuietHours": "QUIET_HOURS",
    "QuietHoursMarketingEmail": "QUIET_HOURS_MARKETING_EMAIL",
    "QuietHoursMaxDelayHours": "QUIET_HOURS_MAX_DELAY_HOURS",
    "MarketingCapEmail": "MARKETING_CAP_EMAIL",
    "MarketingCapSms": "MARKETING_CAP_SMS",
    "CampaignSendRate": "CAMPAIGN_SEND_RATE",
}
_CAP_PARAMETER = {"email": "MarketingCapEmail", "sms": "MarketingCapSms"}
# The default quiet window (11 hours) fits the default maximum delay; a longer one needs more.
DEFAULT_QUIET_MAX_DELAY_HOURS = 12

# Where each lifecycle stage's use is covered, and words that point at it (in a journey's or
# campaign's name, description or triggering event).
STAGES: dict[str, str] = {
    "welcome": (
        "the welcome stage (on sign-up, from the Customers stream: one welcome by email, and "
        "by SMS with consent; templates/welcome/)"
    ),
    "order flow": (
        "the order flow stage (from the Orders stream: a message per status change and a "
        "pickup reminder; templates/order_*/, templates/pickup_reminder/)"
    ),
    "feedback": (
        "the feedback stage (a request after delivery, rating links, an apology on a low "
        "rating; templates/feedback_*/)"
    ),
    "retention": (
        "the retention stage (a daily run for the customers due that day: the win-back "
        "reminder, offer and last chance, loyalty tier-ups and the heavy-user reward, with "
        "holdouts; templates/winback_*/, loyalty_tier_up/, appreciation_reward/)"
    ),
    "announcements": (
        "announcements (one reviewed campaign file per send under campaigns/, to an audience, "
        "with variants and a holdout)"
    ),
}
_STAGE_WORDS: dict[str, tuple[str, ...]] = {
    "welcome": ("welcome", "onboard", "sign-up", "signup", "sign_up", "new customer", "register"),
    "order flow": ("order", "pickup", "pick-up", "delivery", "delivered", "receipt", "reminder"),
    "feedback": ("feedback", "review", "rating", "survey", "nps"),
    "retention": (
        "win-back",
        "winback",
        "win back",
        "lapsed",
        "churn",
        "inactive",
        "dormant",
        "miss you",
        "loyal",
        "reward",
        "vip",
        "retention",
        "re-engage",
    ),
    "announcements": ("newsletter", "launch", "announcement", "sale", "seasonal", "promo"),
}

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_OFFSET = re.compile(r"^UTC(?:([+-])(\d{2})(?::(\d{2}))?)?$")
_VARIANT = re.compile(r"[^A-Za-z0-9_-]+")
_RECURRING = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY")
_EVENTS = ("EVENT", "IN_APP_EVENT")
_OTHER_TEMPLATES = ("PushTemplate", "VoiceTemplate", "InAppTemplate")
_OTHER_MESSAGES = (
    "ADMMessage",
    "APNSMessage",
    "BaiduMessage",
    "CustomMessage",
    "DefaultMessage",
    "GCMMessage",
    "InAppMessage",
)
_CHANNEL_TYPES = {"EMAIL": "email", "SMS": "sms"}
_LABEL = {"email": "email", "sms": "SMS"}


@dataclass(frozen=True)
class PolicySetting:
    """One contact-policy setting to give the stack: its parameter (`name`), the environment
    variable the functions read it as, the value, where it came from, and what differs."""

    name: str
    variable: str
    value: str
    source: str
    note: str


@dataclass(frozen=True)
class JourneyReport:
    """A journey, which has no one-to-one equivalent: the stages that cover its use, its steps
    from its start activity, and its templates as (channel, Pinpoint template, folder)."""

    name: str
    source: str
    stages: tuple[str, ...]
    steps: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]


@dataclass
class SettingsImport:
    """What `convert` made: campaign files (id -> YAML text), policy settings, the journeys
    and every problem."""

    campaigns: dict[str, str] = field(default_factory=dict)
    policy: list[PolicySetting] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    journeys: list[JourneyReport] = field(default_factory=list)


Inputs = Sequence[tuple[str, Any]]


def convert(
    campaigns: Inputs,
    journeys: Inputs,
    segments: Inputs = (),
    *,
    mapping: Mapping | None = None,
    website: str | None = None,
) -> SettingsImport:
    """Campaign files, policy settings and problems from GetCampaign, GetJourney and GetSegment
    responses, each given as (its name as shown to the user, the parsed JSON). `mapping` names
    the Customers attributes endpoint fields become (the endpoint import's); `website` (https)
    is the link of a campaign that has none of its own."""
    result = SettingsImport()
    mapping = mapping or Mapping()
    if website is not None and not re.match(r"^https://\S+$", website):
        result.problems.append(
            Problem(BAD_INPUT, "website", f"{website!r} is not an https:// address: not used")
        )
        website = None
    known = _segments(segments, result.problems)
    candidates: list[_Candidate] = []
    taken: set[str] = set()
    for source, data in campaigns:
        item = _Source(source, result.problems)
        body = item.unwrap(data, "CampaignResponse", "Activities", "a journey (GetJourney)")
        if body is None:
            continue
        try:
            converted = _CampaignConversion(item, body, known, mapping, website, taken).run()
        except Exception as exc:  # it reports, it never crashes
            item.add(BAD_INPUT, "", f"could not be read: {type(exc).__name__}: {exc}")
            continue
        candidates += item.candidates
        if converted is not None:
            campaign_id, text = converted
            result.campaigns[campaign_id] = text
    for source, data in journeys:
        item = _Source(source, result.problems)
        body = item.unwrap(data, "JourneyResponse", "TreatmentName", "a campaign (GetCampaign)")
        if body is None:
            continue
        try:
            report = _journey(item, body)
        except Exception as exc:  # it reports, it never crashes
            item.add(BAD_INPUT, "", f"could not be read: {type(exc).__name__}: {exc}")
            continue
        candidates += item.candidates
        if report is not None:
            result.journeys.append(report)
    result.policy = _merge(candidates, result.problems)
    return result


def write(result: SettingsImport, campaigns_dir: Path, dry_run: bool) -> dict[str, Outcome]:
    """Write each campaign as `<campaigns_dir>/<id>.yaml` (or, with `dry_run`, only tell what
    writing would do), by path: new, updated, unchanged, or kept: a file the import did not
    write, or one edited since (a reviewed link or audience), is left as it is, with a
    problem added to the result."""
    outcomes: dict[str, Outcome] = {}
    for campaign_id, text in sorted(result.campaigns.items()):
        name = f"{campaign_id}.yaml"
        path = campaigns_dir / name
        outcome = write_files(campaigns_dir, {name: text}, dry_run)
        if outcome is Outcome.KEPT:
            result.problems.append(
                Problem(
                    NOT_CARRIED,
                    str(path),
                    "edited since the import wrote it, or not the import's: left as it is "
                    f"(campaign {campaign_id!r}; move the file away to have it written again)",
                )
            )
        outcomes[str(path)] = outcome
    return outcomes


# ---------------------------------------------------------------------------------- input


@dataclass
class _Candidate:
    name: str
    value: str
    source: str
    note: str


class _Source:
    """One input file: its name as shown, the problems it adds and the settings it proposes."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.name = name
        self.problems = problems
        self.candidates: list[_Candidate] = []
        self.title = name

    def add(self, kind: str, where: str, detail: str) -> None:
        self.problems.append(Problem(kind, f"{self.name}: {where}" if where else self.name, detail))

    def propose(self, name: str, value: str, where: str, note: str) -> None:
        self.candidates.append(
            _Candidate(name, value, f"{self.name}: {where} ({self.title})", note)
        )

    def unwrap(self, data: Any, key: str, other: str, other_kind: str) -> dict[str, Any] | None:
        """The object inside the response wrapper (or the object itself), or None with a
        problem when it is not one of those."""
        kind = key.removesuffix("Response")
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, dict) and len(data) == 1 and next(iter(data)).endswith("Response"):
            self.add(BAD_INPUT, "", f"this is a {next(iter(data))}, not a {key}: not read")
            return None
        if not isinstance(data, dict):
            self.add(BAD_INPUT, "", f"not a {kind}: expected {{{key!r}: {{...}}}} or its object")
            return None
        if other and other in data:
            self.add(BAD_INPUT, "", f"this looks like {other_kind}, not a {kind}: not read")
            return None
        return data

    def obj(self, parent: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(BAD_INPUT, f"{where}{key}", f"expected an object, got {_kind(value)}")
            return {}
        return value

    def text(self, parent: dict[str, Any], key: str, where: str = "") -> str | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.add(BAD_INPUT, f"{where}{key}", f"expected text, got {_kind(value)}")
            return None
        return value.strip() or None

    def number(self, parent: dict[str, Any], key: str, where: str = "") -> int | None:
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.add(BAD_INPUT, f"{where}{key}", f"expected a whole number, got {value!r}")
            return None
        return int(value)


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", dict: "an object", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


_Segments = dict[str, tuple["_Source", dict[str, Any]]]


def _segments(segments: Inputs, problems: list[Problem]) -> _Segments:
    known: _Segments = {}
    for source, data in segments:
        item = _Source(source, problems)
        body = item.unwrap(data, "SegmentResponse", "", "")
        if body is None:
            continue
        segment_id = item.text(body, "Id")
        if segment_id is None:
            item.add(BAD_INPUT, "Id", "a segment needs its Id (campaigns name it by SegmentId)")
            continue
        item.title = f"segment {item.text(body, 'Name') or segment_id!r}"
        known[segment_id] = (item, body)
    return known


# ---------------------------------------------------------------------------------- campaigns


@dataclass
class _Treatment:
    name: str
    percent: float
    template: str | None
    channels: tuple[str, ...]
    where: str


class _CampaignConversion:
    def __init__(
        self,
        item: _Source,
        body: dict[str, Any],
        segments: _Segments,
        mapping: Mapping,
        website: str | None,
        taken: set[str],
    ) -> None:
        self.item = item
        self.body = body
        self.segments = segments
        self.mapping = mapping
        self.website = website
        self.taken = taken
        self.review: list[str] = []  # what the file's header asks a person to check
        self.holdout_percent = 0.0

    def add(self, kind: str, where: str, detail: str) -> None:
        self.item.add(kind, where, detail)
        if kind in (TO_REVIEW, NOT_CARRIED):
            self.review.append(f"{where}: {detail}" if where else detail)

    def run(self) -> tuple[str, str] | None:
        item, body = self.item, self.body
        name = item.text(body, "Name")
        if name is None:
            item.add(BAD_INPUT, "Name", "a campaign needs its Name (its id here is made from it)")
            return None
        item.title = f"campaign {name!r}"
        schedule = item.obj(body, "Schedule")
        frequency = (item.text(schedule, "Frequency", "Schedule.") or "ONCE").upper()
        channels = self._channels()
        self._policy(schedule, channels)
        if frequency in _EVENTS:
            self._event(schedule)
            return None
        if frequency in _RECURRING:
            stage = _stages(name, item.text(body, "Description"))
            item.add(
                NO_EQUIVALENT,
                "Schedule.Frequency",
                f"a {frequency.lower()} recurring campaign: a campaign here is sent once. "
                f"{_pointer(stage, 'a campaign file per send')}; no campaign file written",
            )
            return None
        if frequency != "ONCE":
            item.add(BAD_INPUT, "Schedule.Frequency", f"{frequency!r} is not a Pinpoint frequency")
            return None
        campaign_id = _campaign_id(name, self.taken)
        send = self._send(schedule)
        if send is None:
            return None
        treatments = self._treatments()
        if not treatments:
            return None
        audience, only = self._audience()
        used = [c for c in ("email", "sms") if any(c in t.channels for t in treatments)]
        if only is not None:
            dropped = [c for c in used if c not in only]
            if dropped:
                self.add(
                    DIFFERS,
                    "segment Demographic.Channel",
                    f"the segment keeps only {', '.join(only)} endpoints: the campaign sends "
                    f"by {', '.join(c for c in used if c in only) or 'none'} here, not "
                    f"{', '.join(dropped)}",
                )
            used = [c for c in used if c in only]
        if not used:
            item.add(NOT_CARRIED, "", "nothing this product sends (email or SMS): not written")
            return None
        if len(used) == 2:
            item.add(
                DIFFERS,
                "channels",
                "Pinpoint sent to every endpoint of the segment, so someone with an email "
                "address and a phone got both messages; here each recipient gets one, by the "
                "first channel that can reach them (email, else SMS)",
            )
        data: dict[str, Any] = {
            "id": campaign_id,
            "name": name[:200],
            "channels": used,
            "audience": audience,
            "send": send,
            "message": {"template": treatments[0].template, "link": self._link(campaign_id)},
        }
        self._sms_folder(treatments, used)
        variants, holdout = self._split(treatments)
        if variants:
            data["variants"] = variants
        if holdout:
            data["holdout"] = holdout
        self._state()
        text = _render(data, self._header(name, campaign_id))
        return self._validated(campaign_id, text)

    # ------------------------------------------------------------------ what it sends
    def _templates(self, config: dict[str, Any], where: str) -> tuple[str | None, list[str]]:
        """The folder a treatment's templates make (email's, else SMS's) and its channels."""
        item = self.item
        found: dict[str, str] = {}
        for key, channel in (("EmailTemplate", "email"), ("SMSTemplate", "sms")):
            template = item.obj(config, key, f"{where}TemplateConfiguration.")
            template_name = item.text(template, "Name", f"{where}TemplateConfiguration.{key}.")
            if template_name is None:
                continue
            found[channel] = template_name
            if item.text(template, "Version", f"{where}TemplateConfiguration.{key}."):
                self.add(
                    TO_REVIEW,
                    f"{where}TemplateConfiguration.{key}.Version",
                    f"Pinpoint used version {template['Version']} of {template_name}; the "
                    f"converted {template_folder(template_name)} holds the version the "
                    "template export read",
                )
        for key in _OTHER_TEMPLATES:
            if config.get(key):
                item.add(
                    NO_EQUIVALENT,
                    f"{where}TemplateConfiguration.{key}",
                    "push, voice and in-app messages are not sent by this product",
                )
        folder = template_folder(found.get("email") or found["sms"]) if found else None
        return folder, list(found)

    def _inline(self, message: dict[str, Any], where: str, channels: list[str]) -> str | None:
        """A treatment's own message (no template): its channels, and the folder to write it in."""
        item = self.item
        folder = None
        for key, channel in (("EmailMessage", "email"), ("SMSMessage", "sms")):
            if not message.get(key) or channel in channels:
                continue
            channels.append(channel)
            folder = template_folder(item.text(self.body, "Name") or "campaign")
            parts = "email.subject.j2, email.html.j2, email.txt.j2"
            self.add(
                NOT_CARRIED,
                f"{where}MessageConfiguration.{key}",
                f"the message is written in the campaign, not a template: copy it into "
                f"templates/{folder}/ ({parts if channel == 'email' else 'sms.txt.j2'})",
            )
        for key in _OTHER_MESSAGES:
            if message.get(key):
                item.add(
                    NO_EQUIVALENT,
                    f"{where}MessageConfiguration.{key}",
                    "push, in-app and custom-channel messages are not sent by this product",
                )
        return folder

    def _channels(self) -> list[str]:
        """The channels any treatment sends by, for the settings a campaign of any kind
        proposes (without reporting: the treatments report their own problems)."""
        nodes = [self.body]
        additional = self.body.get("AdditionalTreatments")
        if isinstance(additional, list):
            nodes += [t for t in additional if isinstance(t, dict)]
        found: set[str] = set()
        for node in nodes:
            templates = node.get("TemplateConfiguration")
            messages = node.get("MessageConfiguration")
            for key, message, channel in (
                ("EmailTemplate", "EmailMessage", "email"),
                ("SMSTemplate", "SMSMessage", "sms"),
            ):
                if isinstance(templates, dict) and templates.get(key):
                    found.add(channel)
                if isinstance(messages, dict) and messages.get(message):
                    found.add(channel)
        return [c for c in ("email", "sms") if c in found]

    def _treatments(self) -> list[_Treatment]:
        item, body = self.item, self.body
        holdout = self._percent(body, "HoldoutPercent", "")
        main = self._treatment(body, item.text(body, "TreatmentName") or "A", "", 0.0)
        others: list[_Treatment] = []
        additional = body.get("AdditionalTreatments") or []
        if not isinstance(additional, list):
            item.add(BAD_INPUT, "AdditionalTreatments", f"expected a list, got {_kind(additional)}")
            additional = []
        for index, treatment in enumerate(additional):
            where = f"AdditionalTreatments[{index}]."
            if not isinstance(treatment, dict):
                item.add(
                    BAD_INPUT, where.rstrip("."), f"expected an object, got {_kind(treatment)}"
                )
                continue
            percent = self._percent(treatment, "SizePercent", where)
            label = item.text(treatment, "TreatmentName", where) or chr(ord("B") + index)
            each = self._treatment(treatment, label, where, percent)
            if each is not None:
                others.append(each)
        if main is None:
            return []
        main.percent = 100 - holdout - sum(t.percent for t in others)
        if main.percent <= 0:
            item.add(
                BAD_INPUT,
                "AdditionalTreatments",
                f"the holdout ({holdout:g}%) and the additional treatments "
                f"({sum(t.percent for t in others):g}%) leave the default treatment nothing",
            )
            return []
        self.holdout_percent = holdout
        treatments = [main, *others]
        if len(treatments) > 5:
            item.add(
                NOT_CARRIED,
                "AdditionalTreatments",
                f"{len(treatments)} treatments: a campaign here takes at most 5 variants; "
                "only the default treatment is carried",
            )
            main.percent = 100 - holdout
            return [main]
        return treatments

    def _treatment(
        self, node: dict[str, Any], label: str, where: str, percent: float
    ) -> _Treatment | None:
        item = self.item
        folder, channels = self._templates(item.obj(node, "TemplateConfiguration", where), where)
        inline = self._inline(item.obj(node, "MessageConfiguration", where), where, channels)
        folder = folder or inline
        if where and node.get("Schedule"):
            item.add(
                NO_EQUIVALENT,
                f"{where}Schedule",
                f"treatment {label} had its own schedule: every variant goes at the campaign's "
                "send time here",
            )
        if folder is None:
            item.add(
                NOT_CARRIED,
                f"{where}TemplateConfiguration",
                f"treatment {label} has no email or SMS template or message: not carried",
            )
            return None
        return _Treatment(label, percent, folder, tuple(channels), where)

    def _percent(self, node: dict[str, Any], key: str, where: str) -> float:
        value = node.get(key)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            self.item.add(BAD_INPUT, f"{where}{key}", f"expected a percentage, got {value!r}")
            return 0.0
        return float(value)

    def _split(self, treatments: list[_Treatment]) -> tuple[list[dict[str, Any]], float]:
        holdout = self.holdout_percent
        share = 0.0
        if holdout >= 100:
            self.item.add(BAD_INPUT, "HoldoutPercent", "100: nobody would get the campaign")
            holdout = 0.0
        elif holdout:
            share = round(holdout / 100, 6)
            self.item.add(
                DIFFERS,
                "HoldoutPercent",
                f"{holdout:g}% held out: the same share here, drawn by a stable hash of the "
                "campaign and the customer; a held-out recipient is counted only where the "
                "contact policy would have let the message through",
            )
        if len(treatments) < 2:
            return [], share
        rest = 100 - holdout
        names = _variant_names([t.name for t in treatments])
        shares = [round(t.percent / rest, 6) for t in treatments]
        shares[-1] = round(1 - sum(shares[:-1]), 6)
        variants = [
            {"name": name, "share": each, "template": t.template}
            for name, each, t in zip(names, shares, treatments, strict=True)
        ]
        detail = ", ".join(
            f"{v['name']} {t.percent:g}% -> {v['share']:g}"
            for v, t in zip(variants, treatments, strict=True)
        )
        self.item.add(
            DIFFERS,
            "AdditionalTreatments",
            f"treatments as variants ({detail}): Pinpoint gave each a share of the whole "
            "segment; here the holdout is drawn first and the variants split the rest",
        )
        return variants, share

    def _sms_folder(self, treatments: list[_Treatment], channels: list[str]) -> None:
        """An SMS template of another name than the email's is another folder, while a
        variant's folder holds the copy of every channel it sends by."""
        if "sms" not in channels or "email" not in channels:
            return
        config = self.item.obj(self.body, "TemplateConfiguration")
        for treatment in treatments:
            node = config
            if treatment.where:
                index = int(treatment.where.split("[")[1].split("]")[0])
                node = self.body["AdditionalTreatments"][index].get("TemplateConfiguration") or {}
            sms = (node.get("SMSTemplate") or {}).get("Name") if isinstance(node, dict) else None
            if isinstance(sms, str) and sms.strip() and template_folder(sms) != treatment.template:
                self.add(
                    TO_REVIEW,
                    f"{treatment.where}TemplateConfiguration.SMSTemplate",
                    f"the SMS template {sms} becomes templates/{template_folder(sms)}/, but "
                    f"variant {treatment.name} sends both channels from "
                    f"templates/{treatment.template}/: copy its sms.txt.j2 there (`lifecycle "
                    "campaign lint` says so until then)",
                )

    # ------------------------------------------------------------------ when
    def _send(self, schedule: dict[str, Any]) -> dict[str, str] | None:
        item = self.item
        raw = item.text(schedule, "StartTime", "Schedule.")
        if raw is None:
            item.add(BAD_INPUT, "Schedule.StartTime", "a campaign needs its start time")
            return None
        if raw.upper() == "IMMEDIATE":
            created = item.text(self.body, "CreationDate")
            start = _instant(created) if created else None
            if start is None:
                item.add(
                    NOT_CARRIED,
                    "Schedule.StartTime",
                    "IMMEDIATE, and no CreationDate to start from: not written",
                )
                return None
            self.add(
                TO_REVIEW,
                "Schedule.StartTime",
                "Pinpoint sent it immediately: send.at is when it was created; set when it "
                "should go",
            )
        else:
            start = _instant(raw)
            if start is None:
                item.add(BAD_INPUT, "Schedule.StartTime", f"{raw!r} is not an ISO 8601 time")
                return None
        if item.text(schedule, "EndTime", "Schedule."):
            item.add(
                NO_EQUIVALENT,
                "Schedule.EndTime",
                "a campaign here has no end time: it sends until every recipient is done "
                "(cancel it to stop)",
            )
        local = schedule.get("IsLocalTime") is True
        zone = item.text(schedule, "Timezone", "Schedule.")
        if not local:
            if start.tzinfo is None:
                self.add(
                    TO_REVIEW,
                    "Schedule.StartTime",
                    f"{raw!r} has no UTC offset: read as UTC",
                )
                start = start.replace(tzinfo=UTC)
            return {"at": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        offset = _offset(zone) if zone else None
        if zone and offset is None:
            item.add(BAD_INPUT, "Schedule.Timezone", f"{zone!r} is not a UTC offset (UTC+01)")
        wall = start.astimezone(offset) if offset is not None and start.tzinfo else start
        item.add(
            DIFFERS,
            "Schedule.IsLocalTime",
            f"local-time sending: each recipient at {wall:%H:%M} on {wall:%Y-%m-%d} in their "
            f"own time zone (their timezone, else their phone's, else DefaultTimezone), the "
            f"wall clock of StartTime{' at ' + zone if zone else ''}; Pinpoint used the "
            "endpoint's Demographic.Timezone",
        )
        if wall.second or wall.microsecond:
            item.add(DIFFERS, "Schedule.StartTime", "seconds are dropped: a local time is HH:MM")
        return {"date": f"{wall:%Y-%m-%d}", "local_time": f"{wall:%H:%M}"}

    def _event(self, schedule: dict[str, Any]) -> None:
        item = self.item
        event = item.obj(schedule, "EventFilter", "Schedule.")
        dimensions = item.obj(event, "Dimensions", "Schedule.EventFilter.")
        kinds = item.obj(dimensions, "EventType", "Schedule.EventFilter.Dimensions.")
        values = kinds.get("Values")
        names = ", ".join(str(v) for v in values or () if isinstance(values, list)) or "an event"
        stage = _stages(names, item.text(self.body, "Name"), item.text(self.body, "Description"))
        item.add(
            NO_EQUIVALENT,
            "Schedule.Frequency",
            f"sent on {names}: messages here are triggered by the stages, not by app events. "
            f"{_pointer(stage, 'the stage whose trigger is that event')}; no campaign file written",
        )

    # ------------------------------------------------------------------ who
    def _audience(self) -> tuple[dict[str, Any], list[str] | None]:
        item = self.item
        segment_id = item.text(self.body, "SegmentId")
        found = self.segments.get(segment_id or "")
        if found is None:
            self.add(
                NOT_CARRIED,
                "audience",
                f"Pinpoint sent it to segment {segment_id or '(none)'}, whose definition was "
                "not given (GetSegment): the audience is empty, so as written it goes to "
                "everyone with marketing consent; write its audience",
            )
            return {}, None
        return _SegmentConversion(self, *found).run()

    # ------------------------------------------------------------------ the rest
    def _link(self, campaign_id: str) -> str:
        url = _message_url(self.body)
        if url:
            self.add(TO_REVIEW, "message.link", f"the campaign's own message URL {url}")
            return url
        if self.website:
            self.add(
                TO_REVIEW,
                "message.link",
                "Pinpoint campaigns carry no link of their own (it is in the templates): "
                f"message.link is the business website {self.website}; point it at the "
                "offer's page",
            )
            return self.website
        link = UNKNOWN_LINK.format(id=campaign_id)
        self.add(
            TO_REVIEW,
            "message.link",
            f"Pinpoint campaigns carry no link of their own (it is in the templates), and no "
            f"business website was given: message.link is {link}, an address that never "
            "resolves; set the offer's page before scheduling",
        )
        return link

    def _state(self) -> None:
        state = self.item.obj(self.body, "State")
        status = self.item.text(state, "CampaignStatus", "State.")
        if status in ("COMPLETED", "EXECUTING", "DELETED"):
            self.add(
                TO_REVIEW,
                "State",
                f"{status} in Pinpoint: scheduling this file sends it again, to everyone in "
                "its audience",
            )
        if self.body.get("IsPaused") is True:
            self.add(
                TO_REVIEW, "IsPaused", "paused in Pinpoint: schedule it only when it should go"
            )
        if self.body.get("Hook"):
            self.item.add(
                NO_EQUIVALENT,
                "Hook",
                "a Lambda code hook: templates here get the customer's own attributes "
                "(attributes.<name>), and the audience filters; nothing else runs per message",
            )
        if self.body.get("CustomDeliveryConfiguration"):
            self.item.add(NO_EQUIVALENT, "CustomDeliveryConfiguration", "no custom channels here")

    def _policy(self, schedule: dict[str, Any], channels: list[str]) -> None:
        item = self.item
        quiet = item.obj(schedule, "QuietTime", "Schedule.")
        if quiet:
            _quiet(item, quiet, "Schedule.QuietTime", channels, waits=False)
        limits = item.obj(self.body, "Limits")
        daily = item.number(limits, "Daily", "Limits.")
        if daily:
            _cap(item, daily, 1, "Limits.Daily", channels, "from this campaign")
        total = item.number(limits, "Total", "Limits.")
        if total:
            item.add(
                DIFFERS,
                "Limits.Total",
                f"at most {total} messages per endpoint over the campaign: a campaign here "
                "sends each recipient at most one message (its key campaign#<id>#<customer>), "
                "so that holds; across campaigns the marketing cap limits what they get",
            )
        rate = item.number(limits, "MessagesPerSecond", "Limits.")
        if rate:
            item.propose(
                "CampaignSendRate",
                str(rate),
                "Limits.MessagesPerSecond",
                f"Pinpoint: this campaign at most {rate} messages a second; here "
                "CampaignSendRate is one rate for all campaigns together (instead of "
                "CampaignRateShare of SES's quota); welcome, order and feedback mail never "
                "wait for it",
            )
            item.add(
                DIFFERS,
                "Limits.MessagesPerSecond",
                f"{rate} a second for this campaign becomes CampaignSendRate {rate}, shared by "
                "all campaigns",
            )
        duration = item.number(limits, "MaximumDuration", "Limits.")
        if duration:
            item.add(
                NO_EQUIVALENT,
                "Limits.MaximumDuration",
                f"Pinpoint gave up delivering {duration} s after the start; here a campaign "
                "sends until every recipient is done, and a deferred message waits at most "
                "QuietHoursMaxDelayHours",
            )
        if item.number(limits, "Session", "Limits."):
            item.add(NO_EQUIVALENT, "Limits.Session", "app sessions: no equivalent here")

    def _header(self, name: str, campaign_id: str) -> list[str]:
        pinpoint_id = self.item.text(self.body, "Id")
        lines = [
            f"{MARKER}: campaign {json.dumps(name)}",
            f"# from {self.item.name}{f' (Pinpoint id {pinpoint_id})' if pinpoint_id else ''}.",
            f"# Check it with `lifecycle campaign lint campaigns/{campaign_id}.yaml`; what goes",
            "# out is this file as reviewed. Re-running the import replaces it only while it",
            "# is as the import wrote it: once edited, it is yours.",
        ]
        description = self.item.text(self.body, "Description")
        if description:
            lines.append(f"# Pinpoint's description: {' '.join(description.split())}")
        if self.review:
            lines.append("# To review:")
            lines += [f"# - {' '.join(line.split())}" for line in self.review]
        return lines

    def _validated(self, campaign_id: str, text: str) -> tuple[str, str] | None:
        import yaml

        # The placeholder link is there to stop the file being scheduled as it is (campaign
        # lint refuses it until someone sets the real page): everything else must be valid.
        placeholder = UNKNOWN_LINK.format(id=campaign_id)
        checked = text.replace(placeholder, "https://example.com/placeholder")
        try:
            model.parse(yaml.safe_load(checked), source=f"campaigns/{campaign_id}.yaml")
        except (model.CampaignError, yaml.YAMLError) as error:
            self.item.add(BAD_INPUT, "", f"the campaign made from it is not valid: {error}")
            return None
        return campaign_id, text


class _SegmentConversion:
    """A segment's dimensions as a campaign's audience, and the channels it keeps (None: all)."""

    def __init__(self, campaign: _CampaignConversion, item: _Source, body: dict[str, Any]) -> None:
        self.campaign = campaign
        self.item = item
        self.body = body
        self.attributes: dict[str, list[str]] = {}
        self.locales: list[str] = []
        self.channels: list[str] | None = None

    def add(self, kind: str, where: str, detail: str) -> None:
        self.campaign.add(kind, f"segment {where}", detail)

    def run(self) -> tuple[dict[str, Any], list[str] | None]:
        item, body = self.item, self.body
        if (item.text(body, "SegmentType") or "").upper() == "IMPORT":
            self.add(
                NOT_CARRIED,
                "SegmentType",
                "an imported segment (a list of endpoints): an audience here is conditions; "
                "the audience is empty, so as written it goes to everyone with marketing "
                "consent; write its audience (or carry the list as an attribute by --mapping)",
            )
            return {}, None
        dimensions = self._dimensions()
        if dimensions is None:
            return {}, None
        for key in ("Attributes", "UserAttributes"):
            prefix = "Attributes" if key == "Attributes" else "User.UserAttributes"
            for attribute, rule in item.obj(dimensions, key, "Dimensions.").items():
                self._attribute(f"{prefix}.{attribute}", f"Dimensions.{key}.{attribute}", rule)
        self._demographic(item.obj(dimensions, "Demographic", "Dimensions."))
        self._location(item.obj(dimensions, "Location", "Dimensions."))
        for key in ("Behavior", "Metrics"):
            if dimensions.get(key):
                self.add(
                    NO_EQUIVALENT,
                    f"Dimensions.{key}",
                    "app usage and endpoint metrics are not kept here (an audience can ask "
                    "for orders and last_order); the audience is wider than the segment",
                )
        audience: dict[str, Any] = {}
        if self.locales:
            audience["locales"] = self.locales
        if self.attributes:
            audience["attributes"] = self.attributes
        if not audience:
            self.add(
                NOT_CARRIED,
                "Dimensions",
                "nothing in the segment has an equivalent: the audience is empty, so as "
                "written it goes to everyone with marketing consent; write its audience",
            )
        return audience, self.channels

    def _dimensions(self) -> dict[str, Any] | None:
        item, body = self.item, self.body
        dimensions = item.obj(body, "Dimensions")
        if dimensions:
            return dimensions
        groups = item.obj(body, "SegmentGroups").get("Groups")
        if isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict):
            group = groups[0]
            inner = group.get("Dimensions")
            plain = not group.get("SourceSegments") and group.get("Type", "ALL") in ("ALL", "ANY")
            if plain and isinstance(inner, list) and len(inner) == 1 and isinstance(inner[0], dict):
                return inner[0]
        self.add(
            NOT_CARRIED,
            "SegmentGroups",
            "a segment of several groups or built on other segments: the audience is empty, "
            "so as written it goes to everyone with marketing consent; write its audience",
        )
        return None

    def _attribute(self, path: str, where: str, rule: Any) -> None:
        values = rule.get("Values") if isinstance(rule, dict) else None
        if not isinstance(values, list) or not values:
            self.item.add(BAD_INPUT, where, "expected {AttributeType, Values: [...]}")
            return
        kind = str(rule.get("AttributeType") or "INCLUSIVE").upper()
        values = [str(v) for v in values]
        if kind != "INCLUSIVE":
            self.add(
                NO_EQUIVALENT,
                where,
                # The count, never the values: an exclusion list is often of addresses.
                f"{kind} of {len(values)} value(s): an audience here keeps customers whose "
                "attribute is one of "
                "the values, nothing else; not carried, so the audience is wider than the "
                "segment",
            )
            return
        leaf = path.rsplit(".", 1)[1]
        if leaf.lower() in ("locale", "language", "lang"):
            self.locales += [v.replace("_", "-") for v in values]
            return
        name = self.campaign.mapping.attributes.get(path)
        if name is None:
            name = re.sub(r"[^a-z0-9]+", "_", leaf.lower()).strip("_")
            if not re.match(r"^[a-z][a-z0-9_]{0,63}$", name) or name in RESERVED:
                self.add(
                    NOT_CARRIED,
                    where,
                    f"{path} has no Customers attribute to match (map it with --mapping); the "
                    "audience is wider than the segment",
                )
                return
            sources = [p for p, n in self.campaign.mapping.attributes.items() if n == name]
            filled = (
                f"the import fills attributes.{name} from {sources[0]}"
                if sources
                else f"the endpoint import writes attributes.{name} only if --mapping maps "
                f"{path}: {name}"
            )
            self.add(
                TO_REVIEW,
                where,
                f"{path} is read as attributes.{name}: {filled}; check it holds these values",
            )
        self.attributes[name] = values

    def _demographic(self, demographic: dict[str, Any]) -> None:
        for key, rule in demographic.items():
            where = f"Dimensions.Demographic.{key}"
            values = rule.get("Values") if isinstance(rule, dict) else None
            if key == "Channel" and isinstance(values, list):
                kind = str(rule.get("DimensionType") or "INCLUSIVE").upper()
                channels = [_CHANNEL_TYPES[v] for v in values if v in _CHANNEL_TYPES]
                if kind == "EXCLUSIVE":
                    channels = [c for c in ("email", "sms") if c not in channels]
                self.channels = channels
                continue
            self.add(
                NO_EQUIVALENT,
                where,
                "devices (app version, make, model, platform) are not kept here; the audience "
                "is wider than the segment",
            )

    def _location(self, location: dict[str, Any]) -> None:
        country = location.get("Country")
        if isinstance(country, dict):
            name = self.campaign.mapping.attributes.get("Location.Country")
            values = country.get("Values")
            inclusive = str(country.get("DimensionType") or "INCLUSIVE").upper() == "INCLUSIVE"
            if name and inclusive and isinstance(values, list) and values:
                self.attributes[name] = [str(v) for v in values]
            else:
                self.add(
                    NOT_CARRIED,
                    "Dimensions.Location.Country",
                    "the Customers table keeps no country unless --mapping carries "
                    "Location.Country as an attribute (then run again); the audience is wider "
                    "than the segment",
                )
        if location.get("GPSPoint"):
            self.add(
                NO_EQUIVALENT,
                "Dimensions.Location.GPSPoint",
                "no locations kept here; an attribute such as city can stand in",
            )


# ---------------------------------------------------------------------------------- journeys


def _journey(item: _Source, body: dict[str, Any]) -> JourneyReport | None:
    name = item.text(body, "Name")
    if name is None:
        item.add(BAD_INPUT, "Name", "a journey needs its Name")
        return None
    item.title = f"journey {name!r}"
    activities = item.obj(body, "Activities")
    asked: set[str] = set()
    steps, templates, kinds = _walk(item, activities, item.text(body, "StartActivity"), asked)
    channels = [c for c in ("email", "sms") if any(t[0] == c for t in templates)]
    condition = item.obj(body, "StartCondition")
    event = item.obj(condition, "EventStartCondition", "StartCondition.")
    event_names = _event_names(event)
    stages = _stages(
        name, item.text(body, "Description"), item.text(condition, "Description"), event_names
    )
    stages += tuple(s for s in _stages(*sorted(asked)) if s not in stages)
    folders = ", ".join(f"{t[1]} ({t[0]}) -> templates/{t[2]}/" for t in templates) or "none"
    item.add(
        NO_EQUIVALENT,
        "Activities",
        f"a journey of {len(steps)} steps ({', '.join(sorted(kinds)) or 'none'}): flows here "
        f"are code, one per lifecycle stage. {_pointer(stages, 'a campaign file per send')}. "
        f"Its templates: {folders}; a stage's messages use its own template folders, so move "
        "the copy you keep there",
    )
    if event_names:
        item.add(
            NO_EQUIVALENT,
            "StartCondition.EventStartCondition",
            f"started by {event_names}: the stages start from the Customers and Orders tables' "
            "changes and daily schedules, not app events",
        )
    if "Holdout" in kinds:
        item.add(
            DIFFERS,
            "Activities (Holdout)",
            "a holdout step: retention programmes here hold out HoldoutShare of their "
            "eligible customers; a campaign file has its own holdout",
        )
    if "RandomSplit" in kinds:
        item.add(
            DIFFERS,
            "Activities (RandomSplit)",
            "a random split: a campaign file's variants split its audience (2 to 5 shares)",
        )
    if kinds & {"ConditionalSplit", "MultiCondition"}:
        item.add(
            NO_EQUIVALENT,
            "Activities (ConditionalSplit, MultiCondition)",
            "branches on events or attributes: the order flow follows orders' statuses, "
            "retention follows days without an order, and a campaign's audience filters by "
            "attributes, stage and orders",
        )
    if "Wait" in kinds:
        item.add(
            NO_EQUIVALENT,
            "Activities (Wait)",
            "waits: each stage times its own messages (the pickup reminder, the feedback "
            "delay, the win-back steps' days)",
        )
    _journey_policy(item, body, channels)
    return JourneyReport(name, item.name, stages, tuple(steps), tuple(templates))


def _walk(
    item: _Source, activities: dict[str, Any], start: str | None, events: set[str]
) -> tuple[list[str], list[tuple[str, str, str]], set[str]]:
    """The journey's steps in order from its start (then any not reached), its templates and
    the kinds of activity it has; the events its splits ask about are added to `events`."""
    order: list[str] = []
    queue = [start] if start in activities else []
    queue += sorted(activities)
    steps: list[str] = []
    templates: list[tuple[str, str, str]] = []
    kinds: set[str] = set()
    while queue:
        key = queue.pop(0)
        if key in order or key not in activities:
            continue
        order.append(key)
        activity = activities[key]
        if not isinstance(activity, dict):
            item.add(BAD_INPUT, f"Activities.{key}", f"expected an object, got {_kind(activity)}")
            continue
        text, following = _step(item, key, activity, kinds, templates, events)
        steps.append(f"{key}: {text}")
        queue[0:0] = [n for n in following if n not in order]
    return steps, templates, kinds


def _step(
    item: _Source,
    key: str,
    activity: dict[str, Any],
    kinds: set[str],
    templates: list[tuple[str, str, str]],
    events: set[str],
) -> tuple[str, list[str]]:
    where = f"Activities.{key}."
    for kind, channel in (("EMAIL", "email"), ("SMS", "sms")):
        node = activity.get(kind)
        if isinstance(node, dict):
            kinds.add(kind)
            template = item.text(node, "TemplateName", f"{where}{kind}.")
            if template:
                entry = (channel, template, template_folder(template))
                if entry not in templates:
                    templates.append(entry)
            return f"{channel} {template or '(no template)'}", _next(node, "NextActivity")
    if isinstance(activity.get("Wait"), dict):
        kinds.add("Wait")
        wait = activity["Wait"].get("WaitTime") or {}
        what = wait.get("WaitFor") or wait.get("WaitUntil") or "?"
        return f"wait {what}", _next(activity["Wait"], "NextActivity")
    if isinstance(activity.get("ConditionalSplit"), dict):
        kinds.add("ConditionalSplit")
        split = activity["ConditionalSplit"]
        events.update(_condition_events(split.get("Condition")))
        following = _next(split, "TrueActivity", "FalseActivity")
        yes, no = split.get("TrueActivity"), split.get("FalseActivity")
        return f"yes/no split (yes: {yes}, no: {no})", following
    if isinstance(activity.get("MultiCondition"), dict):
        kinds.add("MultiCondition")
        split = activity["MultiCondition"]
        branches = split.get("Branches") if isinstance(split.get("Branches"), list) else []
        for branch in branches:
            if isinstance(branch, dict):
                events.update(_condition_events({"Conditions": [branch.get("Condition")]}))
        ways: list[Any] = [b.get("NextActivity") for b in branches if isinstance(b, dict)]
        ways.append(split.get("DefaultActivity"))
        names = [n for n in ways if isinstance(n, str)]
        return f"multivariate split ({', '.join(names)})", names
    if isinstance(activity.get("RandomSplit"), dict):
        kinds.add("RandomSplit")
        branches = activity["RandomSplit"].get("Branches")
        branches = (
            [b for b in branches if isinstance(b, dict)] if isinstance(branches, list) else []
        )
        parts = ", ".join(f"{b.get('Percentage')}% {b.get('NextActivity')}" for b in branches)
        names = [b["NextActivity"] for b in branches if isinstance(b.get("NextActivity"), str)]
        return f"random split ({parts})", names
    if isinstance(activity.get("Holdout"), dict):
        kinds.add("Holdout")
        hold = activity["Holdout"]
        return f"holdout {hold.get('Percentage')}%", _next(hold, "NextActivity")
    for kind in ("PUSH", "CUSTOM", "ContactCenter"):
        if isinstance(activity.get(kind), dict):
            kinds.add(kind)
            item.add(
                NO_EQUIVALENT,
                f"{where}{kind}",
                "push, custom (Lambda or web hook) and contact-center steps are not sent here",
            )
            return kind.lower(), _next(activity[kind], "NextActivity")
    item.add(BAD_INPUT, where.rstrip("."), "an activity of no kind Pinpoint documents")
    return "(unknown)", []


def _condition_events(condition: Any) -> set[str]:
    """The events a split's conditions ask about (`order.placed`)."""
    found: set[str] = set()
    conditions = condition.get("Conditions") if isinstance(condition, dict) else None
    for each in conditions if isinstance(conditions, list) else ():
        event = each.get("EventCondition") if isinstance(each, dict) else None
        if isinstance(event, dict):
            found.update(n for n in _event_names({"EventFilter": event}).split(", ") if n)
    return found


def _next(node: dict[str, Any], *keys: str) -> list[str]:
    return [node[k] for k in keys if isinstance(node.get(k), str)]


def _event_names(event: dict[str, Any]) -> str:
    dimensions = (event.get("EventFilter") or {}).get("Dimensions") or {}
    kinds = dimensions.get("EventType") if isinstance(dimensions, dict) else None
    values = kinds.get("Values") if isinstance(kinds, dict) else None
    return ", ".join(str(v) for v in values) if isinstance(values, list) else ""


def _journey_policy(item: _Source, body: dict[str, Any], channels: list[str]) -> None:
    quiet = item.obj(body, "QuietTime")
    if quiet:
        _quiet(item, quiet, "QuietTime", channels, waits=body.get("WaitForQuietTime") is True)
    if body.get("SendingSchedule") or body.get("OpenHours") or body.get("ClosedDays"):
        item.add(
            NO_EQUIVALENT,
            "OpenHours, ClosedDays",
            "sending hours and closed days: only quiet hours (one window a night) here",
        )
    limits = item.obj(body, "Limits")
    frame = item.obj(limits, "TimeframeCap", "Limits.")
    cap = item.number(frame, "Cap", "Limits.TimeframeCap.")
    days = item.number(frame, "Days", "Limits.TimeframeCap.")
    daily = item.number(limits, "DailyCap", "Limits.")
    if cap and days:
        _cap(item, cap, days, "Limits.TimeframeCap", channels, "from all journeys together")
        if daily:
            item.add(
                NOT_CARRIED,
                "Limits.DailyCap",
                f"at most {daily} a day from this journey: one cap per channel here, and "
                f"TimeframeCap ({cap} in {days} days) is the closer match",
            )
    elif daily:
        _cap(item, daily, 1, "Limits.DailyCap", channels, "from this journey")
    total = item.number(limits, "TotalCap", "Limits.")
    if total:
        item.add(
            DIFFERS,
            "Limits.TotalCap",
            f"at most {total} messages per endpoint from the journey: each stage sends each of "
            "its messages once per customer (its ledger key), so a stage never repeats itself",
        )
    if item.number(limits, "EndpointReentryCap", "Limits.") or limits.get(
        "EndpointReentryInterval"
    ):
        item.add(
            NO_EQUIVALENT,
            "Limits.EndpointReentryCap",
            "re-entry: a customer is welcomed once, and goes through win-back once per lapse",
        )
    if item.number(limits, "MessagesPerSecond", "Limits."):
        item.add(
            NO_EQUIVALENT,
            "Limits.MessagesPerSecond",
            "the stages' messages go as their triggers come, at SES's and SNS's rate; only "
            "campaigns share CampaignSendRate",
        )
    if body.get("LocalTime") or body.get("Schedule"):
        item.add(
            NO_EQUIVALENT,
            "Schedule",
            "a journey's start and end: the stages run for as long as the stack does",
        )


# ---------------------------------------------------------------------------------- policy


def _quiet(
    item: _Source, quiet: dict[str, Any], where: str, channels: list[str], *, waits: bool
) -> None:
    start = item.text(quiet, "Start", f"{where}.")
    end = item.text(quiet, "End", f"{where}.")
    if not (start and end and _CLOCK.match(start) and _CLOCK.match(end)) or start == end:
        item.add(BAD_INPUT, where, f"expected Start and End as two different HH:MM, got {quiet!r}")
        return
    value = f"{start}-{end}"
    held = (
        "Pinpoint held such a message until quiet time ended (WaitForQuietTime), as here"
        if waits
        else "Pinpoint did not send a message due in quiet time: it was dropped; here it is "
        "deferred, sent when the window ends"
    )
    item.propose(
        "QuietHours",
        value,
        where,
        f"{held}. Pinpoint applied it only to endpoints with a valid time zone; here the "
        "customer's timezone, else their phone's, else DefaultTimezone. It is one window "
        "for the whole stack: every stage's SMS (time-critical order updates still go) and, "
        "with QuietHoursMarketingEmail, marketing email",
    )
    item.add(DIFFERS, where, f"quiet time {value} becomes QuietHours {value}: {held}")
    if "email" in channels:
        item.propose(
            "QuietHoursMarketingEmail",
            "true",
            where,
            "Pinpoint's quiet time held back email too; here marketing email waits only with "
            "this on (service and transactional email always goes)",
        )
    minutes = _window(value)
    hours = math.ceil(minutes / 60) + 1  # the night the clocks go back is an hour longer
    if hours > DEFAULT_QUIET_MAX_DELAY_HOURS:
        item.propose(
            "QuietHoursMaxDelayHours",
            str(hours),
            where,
            f"a {minutes / 60:g}-hour window: a message held at its start must be able to wait "
            "to its end (an hour more on the night the clocks go back)",
        )


def _cap(
    item: _Source, messages: int, days: int, where: str, channels: list[str], whose: str
) -> None:
    if not channels:
        item.add(NOT_CARRIED, where, "it sends no email or SMS, so no marketing cap is proposed")
        return
    period = "a day (24 hours)" if days == 1 else f"{days} days"
    for channel in channels:
        item.propose(
            _CAP_PARAMETER[channel],
            f"{messages}/{days}",
            where,
            f"Pinpoint: at most {messages} messages per endpoint in {period} {whose}. Here: "
            f"at most {messages} marketing {_LABEL[channel]} messages per customer in any {days} "
            f"day{'s' if days > 1 else ''}, counting every stage's marketing (announcements, "
            "win-back, loyalty, the referral ask); service and transactional messages never "
            "count, so welcome, order and feedback messages are not limited by it."
            + (
                f" The default 2/7 also bounds the week; {messages}/1 lets up to "
                f"{7 * messages} a week through: keep 2/7 if that matters more"
                if days == 1
                else ""
            ),
        )
    item.add(
        DIFFERS,
        where,
        f"{messages} per endpoint in {period} {whose} becomes the marketing cap "
        f"{messages}/{days} ({', '.join(_CAP_PARAMETER[c] for c in channels)}): per customer "
        "and channel, across every stage's marketing, never service or transactional",
    )


_STRICTEST: dict[str, Callable[[str], tuple[float, ...]]] = {
    # the longest window protects most
    "QuietHours": lambda v: (-_window(v),),
    "QuietHoursMarketingEmail": lambda v: (0 if v == "true" else 1,),
    "QuietHoursMaxDelayHours": lambda v: (-int(v),),
    # the fewest messages a day, then the longest period
    "MarketingCapEmail": lambda v: (
        int(v.split("/")[0]) / int(v.split("/")[1]),
        -int(v.split("/")[1]),
    ),
    "MarketingCapSms": lambda v: (
        int(v.split("/")[0]) / int(v.split("/")[1]),
        -int(v.split("/")[1]),
    ),
    "CampaignSendRate": lambda v: (float(v),),
}


def _merge(candidates: list[_Candidate], problems: list[Problem]) -> list[PolicySetting]:
    """One setting per parameter: the value all its sources agree on, or the most protective
    one, with the disagreement reported."""
    settings: list[PolicySetting] = []
    for name in PARAMETERS:
        mine = [c for c in candidates if c.name == name]
        if not mine:
            continue
        chosen = min(mine, key=lambda c: _STRICTEST[name](c.value))
        agreeing = [c.source for c in mine if c.value == chosen.value]
        others = [c for c in mine if c.value != chosen.value]
        if others:
            problems.append(
                Problem(
                    DIFFERS,
                    name,
                    f"one value for the whole stack, and Pinpoint had several: "
                    f"{chosen.value} ({'; '.join(agreeing)}) is proposed as the most "
                    f"protective, not " + "; ".join(f"{c.value} ({c.source})" for c in others),
                )
            )
        settings.append(
            PolicySetting(name, PARAMETERS[name], chosen.value, "; ".join(agreeing), chosen.note)
        )
    return settings


def _window(value: str) -> int:
    start, end = (int(p[:2]) * 60 + int(p[3:]) for p in value.split("-"))
    return (end - start) % (24 * 60)


# ---------------------------------------------------------------------------------- helpers


def _campaign_id(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].rstrip("-") or "campaign"
    candidate, number = base, 2
    while candidate in taken:
        suffix = f"-{number}"
        candidate = base[: 50 - len(suffix)].rstrip("-") + suffix
        number += 1
    taken.add(candidate)
    return candidate


def _variant_names(labels: list[str]) -> list[str]:
    names: list[str] = []
    for index, label in enumerate(labels):
        name = _VARIANT.sub("-", label).strip("-")[:20] or chr(ord("A") + index)
        while name in names:
            name = f"{name[:18]}{index + 1}"
        names.append(name)
    return names


def _instant(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _offset(zone: str) -> timezone | None:
    match = _OFFSET.match(zone.strip().upper())
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    if sign is None:
        return UTC
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    return timezone(-delta if sign == "-" else delta)


def _message_url(body: dict[str, Any]) -> str | None:
    """An https address the campaign's own message configuration gives (a push message's
    action URL), if any."""
    messages = body.get("MessageConfiguration")
    if not isinstance(messages, dict):
        return None
    for message in messages.values():
        url = message.get("Url") if isinstance(message, dict) else None
        if isinstance(url, str) and re.match(r"^https://\S+$", url):
            return url
    return None


def _stages(*texts: str | None) -> tuple[str, ...]:
    words = " ".join(t for t in texts if t).lower()
    return tuple(stage for stage, keys in _STAGE_WORDS.items() if any(k in words for k in keys))


def _pointer(stages: tuple[str, ...], announcements: str) -> str:
    if not stages:
        every = "; ".join(STAGES.values())
        return f"Which lifecycle stage covers its use depends on what it is for: {every}"
    covered = "; ".join(
        STAGES[s] + (f": {announcements}" if s == "announcements" else "") for s in stages
    )
    return f"Covered here by {covered}"


def _render(data: dict[str, Any], header: list[str]) -> str:
    """The campaign as a YAML file: the fields in the model's order, strings quoted as JSON
    (which YAML reads as written), the header as comments."""
    lines = [*header, ""]
    lines.append(f"id: {data['id']}")
    lines.append(f"name: {json.dumps(data['name'])}")
    lines.append(f"channels: [{', '.join(data['channels'])}]")
    audience = data["audience"]
    if not audience:
        lines.append("audience: {}  # everyone with marketing consent: see To review above")
    else:
        lines.append("audience:")
        if "locales" in audience:
            lines.append(f"  locales: {_list(audience['locales'])}")
        if "attributes" in audience:
            lines.append("  attributes:")
            for key, values in audience["attributes"].items():
                lines.append(f"    {json.dumps(key)}: {_list(values)}")
    lines.append("send:")
    lines += [f"  {key}: {json.dumps(value)}" for key, value in data["send"].items()]
    lines.append("message:")
    lines.append(f"  template: {data['message']['template']}")
    lines.append(f"  link: {json.dumps(data['message']['link'])}")
    if "variants" in data:
        lines.append("variants:")
        for variant in data["variants"]:
            lines.append(f"  - name: {json.dumps(variant['name'])}")
            lines.append(f"    share: {variant['share']!r}")
            lines.append(f"    template: {variant['template']}")
    if "holdout" in data:
        lines.append(f"holdout: {data['holdout']!r}")
    return "\n".join(lines) + "\n"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"
