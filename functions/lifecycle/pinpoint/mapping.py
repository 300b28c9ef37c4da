"""The import's mapping: how a Pinpoint endpoint's fields become a Customers row, and which
Pinpoint message variable a converted template reads from where. A YAML (or JSON) file that
`--mapping` names; every field is optional, and the defaults are below:

    first_name: User.UserAttributes.FirstName   # the endpoint field the first name is read from
    first_name_default: null     # used when a user has none (null: the user is reported, not
                                 # imported: a message cannot greet nobody)
    attributes:                  # endpoint field -> Customers attribute (the campaign audience's
      Location.City: city        # `attributes`, and `attributes.<name>` in campaign templates)
    consent:                     # the consent flags an endpoint that has not opted out
      EMAIL: [email_marketing]   # (`OptOut: NONE`) gives its user, by channel type
      SMS: [sms_marketing, sms_transactional]
    consent_attribute: null      # optional: a field whose value (a list's first) must also be
                                 # true/yes/1 for the flags above (an opt-in Pinpoint recorded)
    customer_id_prefix: ""       # put before `User.UserId` (or the endpoint's Id without one)

A field is a dotted path into the endpoint as the export writes it: `User.UserAttributes.X`,
`Attributes.X`, `Demographic.X`, `Location.X`, `Metrics.X`. Pinpoint keeps attributes as
lists of strings; a list's values are joined with ", ".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Channel types the product sends by; the rest (APNS, GCM, VOICE, CUSTOM...) are reported.
CHANNEL_TYPES = ("EMAIL", "SMS")
CONSENT_FLAGS = ("email_marketing", "sms_marketing", "sms_transactional")
# The parts of an endpoint a mapping may read.
ROOTS = ("User.UserAttributes", "Attributes", "Demographic", "Location", "Metrics")
_PATH = re.compile(r"^(User\.UserAttributes|Attributes|Demographic|Location|Metrics)\.[^.\s]+$")
# Customers attributes an import writes itself (the data contract's, and the mark that keeps
# the welcome stage quiet); a mapped attribute may not take one of their names.
RESERVED = frozenset(
    {
        "customer_id",
        "email",
        "phone",
        "first_name",
        "locale",
        "timezone",
        "created_at",
        "consent",
        "channel_preference",
        "welcomed_at",
    }
)
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TRUE_WORDS = frozenset({"true", "yes", "1", "y", "opted_in", "optin", "opt-in"})


class MappingError(ValueError):
    """A mapping file that is not valid; the message names each problem."""


def _path(value: str) -> str:
    if not _PATH.match(value):
        roots = ", ".join(ROOTS)
        raise ValueError(f"{value!r} is not an endpoint field (one of {roots}, then .Name)")
    return value


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_name: str = "User.UserAttributes.FirstName"
    first_name_default: Annotated[str, Field(min_length=1)] | None = None
    attributes: dict[str, str] = Field(default_factory=lambda: {"Location.City": "city"})
    consent: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "EMAIL": ("email_marketing",),
            "SMS": ("sms_marketing", "sms_transactional"),
        }
    )
    consent_attribute: str | None = None
    customer_id_prefix: Annotated[str, Field(max_length=40)] = ""

    @field_validator("first_name", "consent_attribute")
    @classmethod
    def _a_path(cls, value: str | None) -> str | None:
        return None if value is None else _path(value)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, str]) -> dict[str, str]:
        for source, name in value.items():
            _path(source)
            if not _ATTRIBUTE.match(name):
                raise ValueError(f"{name!r} (for {source}) is not an attribute name: a-z, 0-9, _")
            if name in RESERVED:
                raise ValueError(f"{name!r} (for {source}) is one the import writes itself")
        if len(set(value.values())) != len(value):
            raise ValueError("two fields map to the same attribute")
        return value

    @field_validator("consent")
    @classmethod
    def _consent(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for channel, flags in value.items():
            if channel not in CHANNEL_TYPES:
                raise ValueError(f"{channel!r} is not a channel type ({', '.join(CHANNEL_TYPES)})")
            for flag in flags:
                if flag not in CONSENT_FLAGS:
                    raise ValueError(f"{flag!r} is not a consent flag ({', '.join(CONSENT_FLAGS)})")
                if not flag.startswith(channel.lower() + "_"):
                    # An email endpoint cannot consent to texts (nor undo an SMS opt-out).
                    raise ValueError(f"{flag!r} is not {channel}'s consent to give")
        return value

    def variable(self, path: str) -> str | None:
        """The Jinja expression a campaign template reads for a Pinpoint message variable
        (`User.UserAttributes.FirstName`, `Attributes.City`), or None: it has no equivalent."""
        if path == self.first_name:
            return "first_name"
        name = self.attributes.get(path)
        return f"attributes.{name}" if name else None


def _raw(endpoint: dict[str, Any], path: str) -> Any:
    node: Any = endpoint
    root, _, name = path.rpartition(".")
    for part in root.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node.get(name) if isinstance(node, dict) else None


def read_value(endpoint: dict[str, Any], path: str) -> str | None:
    """A field's value from an endpoint as the export writes it (lists joined with ", "),
    or None when it is missing or blank."""
    value = _raw(endpoint, path)
    if isinstance(value, list):
        value = ", ".join(str(v).strip() for v in value if str(v).strip())
    elif value is not None:
        value = str(value).strip()
    return value or None


def read_first(endpoint: dict[str, Any], path: str) -> str | None:
    """A field's value, or a list's first value; None when missing or blank."""
    value = _raw(endpoint, path)
    if isinstance(value, list):
        value = value[0] if value else None
    cleaned = str(value).strip() if value is not None else ""
    return cleaned or None


def load(path: Path | None) -> Mapping:
    """The mapping in a file (YAML or JSON), or the defaults without one."""
    if path is None:
        return Mapping()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # both parsers' errors name the line
        raise MappingError(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}") from None
    try:
        return Mapping.model_validate(data or {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}" for e in error.errors()
        )
        raise MappingError(f"{path}: {problems}") from None


def template_folder(template_name: str) -> str:
    """The campaign template folder a Pinpoint template becomes: `campaign_` and its name in
    lower case, runs of anything but letters and digits as one `_` (an email and an SMS
    template of one name share a folder, as a campaign's channels do)."""
    cleaned = re.sub(r"[^a-z0-9]+", "_", template_name.lower()).strip("_") or "template"
    return f"campaign_{cleaned[:60].rstrip('_')}"
