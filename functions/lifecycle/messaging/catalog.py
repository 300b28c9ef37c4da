"""Every message the product can send, gathered from the stages' `messages` modules. The
authoring tools read it: `lifecycle lint` checks every template against these specs, and
`lifecycle preview` renders each one. Handlers import only their own stage's specs.

Campaign messages are not in CATALOG: each campaign names its own template folder
(`templates/campaign_<name>/`), so their specs are made from the folders on disk
(`specs_in`)."""

from __future__ import annotations

from pathlib import Path

from lifecycle.messaging.message import MessageSpec
from lifecycle.stages.announcements import messages as announcements
from lifecycle.stages.feedback import messages as feedback
from lifecycle.stages.orders import messages as orders
from lifecycle.stages.retention import messages as retention
from lifecycle.stages.welcome import messages as welcome

# Locales every message ships in. English lives at the message folder's root; the others
# are sub-folders with the same files.
SUPPORTED_LOCALES = ("en", "nl", "zh-TW", "tr")

STAGES = (welcome, orders, feedback, retention)

CATALOG: dict[str, MessageSpec] = {spec.template: spec for stage in STAGES for spec in stage.SPECS}


def campaign_folders(templates_dir: Path) -> list[str]:
    """The campaign template folders in `templates_dir`, by name."""
    if not templates_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in templates_dir.iterdir()
        if p.is_dir() and announcements.is_campaign_template(p.name)
    )


def specs_in(templates_dir: Path) -> dict[str, MessageSpec]:
    """Every message whose templates live in `templates_dir`: the catalog's, then each campaign
    folder's as it is on disk (one holding no channel's parts has no spec)."""
    found = dict(CATALOG)
    for folder in campaign_folders(templates_dir):
        spec = announcements.spec_in(templates_dir, folder)
        if spec is not None:
            found[folder] = spec
    return found
