"""Every message the product can send, gathered from the stages' `messages` modules. The
authoring tools read it: `lifecycle lint` checks every template against these specs, and
`lifecycle preview` renders each one. Handlers import only their own stage's specs."""

from __future__ import annotations

from lifecycle.messaging.message import MessageSpec
from lifecycle.stages.feedback import messages as feedback
from lifecycle.stages.orders import messages as orders
from lifecycle.stages.retention import messages as retention
from lifecycle.stages.welcome import messages as welcome

# Locales every message ships in. English lives at the message folder's root; the others
# are sub-folders with the same files.
SUPPORTED_LOCALES = ("en", "nl", "zh-TW", "tr")

STAGES = (welcome, orders, feedback, retention)

CATALOG: dict[str, MessageSpec] = {spec.template: spec for stage in STAGES for spec in stage.SPECS}
