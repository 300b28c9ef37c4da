"""Endpoints and users, from a Pinpoint export job's files: what each user becomes (one
Customers row, and the opt-outs to record), and what could not be carried. Pure: the files'
lines come in, rows come out; `importer` reads the files and writes the tables.

An export job (CreateExportJob) writes gzipped newline-delimited JSON, one endpoint (as
GetEndpoint answers it) a line. The endpoints of one user (`User.UserId`; an endpoint without
one stands alone, by its `Id`) become one customer:

- **Addresses.** The newest (`EffectiveDate`) active EMAIL endpoint gives `email`, the newest
  active SMS endpoint `phone`. Other channel types (push, voice, custom), INACTIVE endpoints and
  invalid addresses or numbers are reported, not imported; so is a user left with no address.
- **Consent.** An endpoint that has not opted out (`OptOut: NONE`) gives its user the consent
  flags the mapping names for its channel (and, with `consent_attribute`, only where that field
  says yes). `OptOut: ALL` gives none, and becomes an opt-out of the channel's marketing in the
  preference store (`email:*` or `sms:*`, source `pinpoint-import`, at the endpoint's
  `EffectiveDate`); an SMS endpoint that opted out loses transactional SMS too.
- **The rest.** First name and attributes per the mapping; `Demographic.Locale` (`en_US`
  becomes `en-US`) and `Demographic.Timezone` from the email endpoint if there is one;
  `created_at` is the earliest `CreationDate` (else `EffectiveDate`); and `welcomed_at` the
  same, so the welcome stage does not welcome a customer Pinpoint already had.

A user's endpoints are held (a few hundred bytes each) until the last file is read, since an
export is not ordered by user: millions fit in memory, tens of millions want a machine sized
for it, or the export split by segment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lifecycle.messaging.message import Channel
from lifecycle.pinpoint.mapping import TRUE_WORDS, Mapping, read_first, read_value
from lifecycle.pinpoint.report import Problem

# Problem kinds, as the report counts them.
NOT_JSON = "line is not an endpoint"
NOT_READABLE = "file or line not readable"
OTHER_CHANNEL = "channel type not carried"
INACTIVE = "inactive endpoint"
BAD_EMAIL = "invalid email address"
BAD_PHONE = "invalid phone number"
NO_ADDRESS = "user with no usable address"
NO_FIRST_NAME = "user with no first name"
OLDER_ENDPOINT = "older endpoint of the same channel"
UNKNOWN_ZONE = "time zone not known"
UNKNOWN_LOCALE = "locale not usable"
ADDRESS_ID = "user id is an address"

_CHANNELS = {"EMAIL": Channel.EMAIL, "SMS": Channel.SMS}


@dataclass(frozen=True)
class Line:
    """One line of an export file, and where it is (for the report)."""

    where: str  # file:line
    text: str
    problem: str | None = None  # the line (or the file from here) could not be read


@dataclass(frozen=True)
class _Endpoint:
    """What the import keeps of one usable endpoint."""

    where: str
    channel: Channel
    address: str
    opted_out: bool
    consents: bool  # the consent attribute (when the mapping names one) says yes
    effective: datetime
    created: datetime
    first_name: str | None
    locale: str | None
    timezone: str | None
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class OptOut:
    """A channel's marketing the customer left in Pinpoint."""

    channel: Channel
    at: datetime

    @property
    def event_id(self) -> str:
        # Deterministic: the same export records it once, however often it is imported.
        return f"pinpoint-import#{self.channel}#{self.at.isoformat()}"


@dataclass(frozen=True)
class Imported:
    """One user as a Customers row (plain values: strings and the consent flags of the
    channels Pinpoint had an endpoint on) and the opt-outs to record for them."""

    customer_id: str
    row: dict[str, Any] | None  # None: not imported (reported), its opt-outs recorded all the same
    opt_outs: tuple[OptOut, ...]
    endpoints: int


@dataclass
class Endpoints:
    """The users read so far; `add` each line, then `customers()`."""

    mapping: Mapping
    problems: list[Problem] = field(default_factory=list)
    lines: int = 0
    _users: dict[str, list[_Endpoint]] = field(default_factory=dict)
    _rejected: dict[str, str] = field(default_factory=dict)  # a user's first endpoint left out

    def add(self, line: Line) -> None:
        self.lines += 1
        if line.problem is not None:
            self._problem(NOT_READABLE, line.where, line.problem)
            return
        try:
            endpoint = json.loads(line.text)
        except ValueError:
            self._problem(NOT_JSON, line.where, "not JSON")
            return
        if not isinstance(endpoint, dict):
            self._problem(NOT_JSON, line.where, "not a JSON object")
            return
        user = _user_id(endpoint)
        if user is None:
            self._problem(NOT_JSON, line.where, "neither User.UserId nor Id")
            return
        if _is_address(user):
            # An id that is an address would be in every log line, ledger key and schedule
            # name: the customer gets a stable id made from it instead.
            user = "pinpoint-" + hashlib.sha256(user.encode()).hexdigest()[:24]
            self._problem(ADDRESS_ID, line.where, f"the user id is an address: {user} instead")
        kept = self._endpoint(endpoint, line.where)
        customer_id = self.mapping.customer_id_prefix + user
        users = self._users.setdefault(customer_id, [])
        if kept is not None:
            users.append(kept)
        else:
            self._rejected.setdefault(customer_id, line.where)

    def each_user(self) -> Iterator[Imported | None]:
        """Each user (in the order first seen) as a customer, or None: reported instead."""
        for customer_id, endpoints in self._users.items():
            yield self._customer(customer_id, endpoints)

    def customers(self) -> list[Imported]:
        """The users that become customers."""
        return [c for c in self.each_user() if c is not None and c.row is not None]

    @property
    def users(self) -> int:
        return len(self._users)

    # ------------------------------------------------------------------ one endpoint
    def _endpoint(self, endpoint: dict[str, Any], where: str) -> _Endpoint | None:
        channel_type = str(endpoint.get("ChannelType") or "").upper()
        channel = _CHANNELS.get(channel_type)
        if channel is None:
            self._problem(OTHER_CHANNEL, where, f"{channel_type or 'no'} channel type")
            return None
        if str(endpoint.get("EndpointStatus") or "ACTIVE").upper() != "ACTIVE":
            self._problem(INACTIVE, where, "EndpointStatus is INACTIVE")
            return None
        address = _address(channel, endpoint.get("Address"))
        if address is None:
            kind = BAD_EMAIL if channel is Channel.EMAIL else BAD_PHONE
            self._problem(kind, where, f"{kind} (not imported)")
            return None
        effective = _when(endpoint.get("EffectiveDate"))
        created = _when(endpoint.get("CreationDate")) or effective
        if effective is None or created is None:
            self._problem(NOT_JSON, where, "no EffectiveDate")
            return None
        mapping = self.mapping
        consents = True
        if mapping.consent_attribute is not None:
            said = read_first(endpoint, mapping.consent_attribute) or ""
            consents = said.strip().lower() in TRUE_WORDS
        attributes = tuple(
            (name, value)
            for path, name in mapping.attributes.items()
            if (value := read_value(endpoint, path)) is not None
        )
        return _Endpoint(
            where=where,
            channel=channel,
            address=address,
            opted_out=str(endpoint.get("OptOut") or "NONE").upper() == "ALL",
            consents=consents,
            effective=effective,
            created=created,
            first_name=read_value(endpoint, mapping.first_name),
            locale=self._locale(read_value(endpoint, "Demographic.Locale"), where),
            timezone=self._zone(read_value(endpoint, "Demographic.Timezone"), where),
            attributes=attributes,
        )

    def _locale(self, value: str | None, where: str) -> str | None:
        if value is None:
            return None
        tag = value.replace("_", "-")
        if not all(part.isalnum() for part in tag.split("-")):
            self._problem(UNKNOWN_LOCALE, where, "Demographic.Locale not usable: default used")
            return None
        return tag

    def _zone(self, value: str | None, where: str) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self._problem(UNKNOWN_ZONE, where, "Demographic.Timezone not known: default used")
            return None
        return value

    # ------------------------------------------------------------------ one user
    def _customer(self, customer_id: str, endpoints: list[_Endpoint]) -> Imported | None:
        if not endpoints:
            where = self._rejected.get(customer_id, "?")
            self._problem(NO_ADDRESS, where, "none of the user's endpoints can be imported")
            return None
        kept: dict[Channel, _Endpoint] = {}
        # Newest first; of two updated at the same moment, the one that opted out.
        for endpoint in sorted(endpoints, key=lambda e: (e.effective, e.opted_out), reverse=True):
            if endpoint.channel in kept:
                self._problem(
                    OLDER_ENDPOINT,
                    endpoint.where,
                    f"the user has a newer {endpoint.channel} endpoint: kept that one",
                )
                continue
            kept[endpoint.channel] = endpoint
        first = kept.get(Channel.EMAIL) or kept[Channel.SMS]
        # The flags of the channels the user has an endpoint on, and only those: a channel
        # Pinpoint knew nothing of says nothing about the customer's consent on it.
        consent: dict[str, bool] = {}
        opt_outs: list[OptOut] = []
        for channel_type, channel in _CHANNELS.items():
            chosen = kept.get(channel)
            if chosen is None:
                continue
            for flag in self.mapping.consent.get(channel_type, ()):
                consent[flag] = not chosen.opted_out and chosen.consents
            if chosen.opted_out:
                opt_outs.append(OptOut(channel, chosen.effective))
                if channel is Channel.SMS:
                    consent["sms_transactional"] = False  # STOP stops every text
        first_name = next(
            (e.first_name for e in (first, *endpoints) if e.first_name),
            self.mapping.first_name_default,
        )
        if first_name is None:
            self._problem(
                NO_FIRST_NAME,
                first.where,
                f"no {self.mapping.first_name} (set first_name_default in the mapping);"
                " its opt-outs are recorded all the same",
            )
            # Not a customer here yet, but whoever writes them later must find them out.
            return Imported(customer_id, None, tuple(opt_outs), len(endpoints))
        created = min(e.created for e in endpoints)
        row: dict[str, Any] = {
            "customer_id": customer_id,
            "first_name": first_name,
            "created_at": created.isoformat(),
            "welcomed_at": created.isoformat(),
            "consent": consent,
        }
        if Channel.EMAIL in kept:
            row["email"] = kept[Channel.EMAIL].address
        if Channel.SMS in kept:
            row["phone"] = kept[Channel.SMS].address
        locale = next((e.locale for e in (first, *kept.values()) if e.locale), None)
        zone = next((e.timezone for e in (first, *kept.values()) if e.timezone), None)
        if locale:
            row["locale"] = locale
        if zone:
            row["timezone"] = zone
        for endpoint in sorted(endpoints, key=lambda e: e.effective):
            row.update(endpoint.attributes)  # the newest endpoint's value wins
        return Imported(customer_id, row, tuple(opt_outs), len(endpoints))

    def _problem(self, kind: str, where: str, detail: str) -> None:
        self.problems.append(Problem(kind, where, detail))


def read(lines: Iterable[Line], mapping: Mapping) -> Endpoints:
    """Every line read into users."""
    found = Endpoints(mapping)
    for line in lines:
        found.add(line)
    return found


def _user_id(endpoint: dict[str, Any]) -> str | None:
    user = endpoint.get("User")
    user_id = user.get("UserId") if isinstance(user, dict) else None
    chosen = user_id or endpoint.get("Id")
    return str(chosen).strip() or None if chosen else None


def _is_address(value: str) -> bool:
    return "@" in value or (value.startswith("+") and value[1:].isdigit())


def _address(channel: Channel, value: Any) -> str | None:
    from lifecycle.models import deliverable_email
    from lifecycle.phones import e164

    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return deliverable_email(value.strip()) if channel is Channel.EMAIL else e164(value.strip())
    except ValueError:
        return None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
