"""The welcome stage's messages."""

from __future__ import annotations

from lifecycle.messaging.message import Channel, Kind, MessageSpec, Quiet

STAGE = "welcome"

WELCOME = MessageSpec(
    template="welcome",
    stage=STAGE,
    kind=Kind.SERVICE,
    channels=(Channel.EMAIL, Channel.SMS),
    variables=frozenset({"first_name"}),
    # Turkish and Chinese need UCS-2 (67 characters a segment once split): allow two.
    sms_segments=2,
    # One welcome per channel the customer has an address on: each stands on its own.
    fallback=False,
    # A welcome text at 23:00 wakes people for nothing: in quiet hours it waits (the default).
    quiet=Quiet.DEFER,
)

SPECS = (WELCOME,)
