"""Every message the product can send: its template folder, kind, channels and the context it
passes to its templates. Journeys build messages from these specs; `lifecycle lint` checks every
template against them, and `lifecycle preview` renders each one."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.messaging.message import Channel, Kind
from lifecycle.messaging.preferences import TOPICS
from lifecycle.messaging.renderer import EMAIL_PARTS, SMS_PART

# Locales every message ships in. English lives at the message folder's root; the others
# are sub-folders with the same files.
SUPPORTED_LOCALES = ("en", "nl", "zh-TW", "tr")


@dataclass(frozen=True)
class MessageSpec:
    template: str  # folder under templates/
    stage: str
    kind: Kind
    channels: tuple[Channel, ...]
    variables: frozenset[str]  # what the journey puts in the context, beside the renderer's own
    topic: str | None = None  # marketing messages belong to a topic
    sms_segments: int = 1  # most SMS segments one message may take (each is billed)

    def __post_init__(self) -> None:
        if self.kind is Kind.MARKETING and self.topic is None:
            raise ValueError(f"{self.template}: a marketing message must belong to a topic")
        if self.topic is not None and self.topic not in TOPICS:
            raise ValueError(f"{self.template}: unknown topic {self.topic!r}")

    @property
    def parts(self) -> tuple[str, ...]:
        """The template files this message needs in its folder (and each locale folder)."""
        parts: tuple[str, ...] = ()
        if Channel.EMAIL in self.channels:
            parts += EMAIL_PARTS
        if Channel.SMS in self.channels:
            parts += (SMS_PART,)
        return parts


WELCOME = MessageSpec(
    template="welcome",
    stage="welcome",
    kind=Kind.SERVICE,
    channels=(Channel.EMAIL, Channel.SMS),
    variables=frozenset({"first_name"}),
    # Turkish and Chinese need UCS-2 (67 characters a segment once split): allow two.
    sms_segments=2,
)

CATALOG: dict[str, MessageSpec] = {spec.template: spec for spec in (WELCOME,)}
