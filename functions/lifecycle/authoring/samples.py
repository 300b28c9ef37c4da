"""Sample data that lives beside the templates, for preview, lint and test sends.

templates/_layouts/sample.json    business details and a sample unsubscribe URL
templates/<message>/sample.json   {"context": {...}, "locales": {"nl": {...}, ...}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecycle.messaging.message import Business, MessageSpec

SAMPLE_FILE = "sample.json"
LAYOUTS = "_layouts"


class SampleError(ValueError):
    """A sample file is missing or malformed; the message names the file."""


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SampleError(f"{path}: sample file is missing") from None
    except json.JSONDecodeError as exc:
        raise SampleError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(loaded, dict):
        raise SampleError(f"{path}: must hold a JSON object")
    return loaded


@dataclass(frozen=True)
class Samples:
    templates_dir: Path
    business: Business
    unsubscribe_url: str

    @classmethod
    def load(cls, templates_dir: Path) -> Samples:
        path = templates_dir / LAYOUTS / SAMPLE_FILE
        data = _read(path)
        try:
            business = Business(**data["business"])
            url = str(data["unsubscribe_url"])
        except (KeyError, TypeError) as exc:
            raise SampleError(
                f"{path}: needs business (name, postal_address, sender_email, website) "
                f"and unsubscribe_url ({exc})"
            ) from None
        return cls(templates_dir=templates_dir, business=business, unsubscribe_url=url)

    def context(self, spec: MessageSpec, locale: str) -> dict[str, Any]:
        """The sample context for one message in one locale (locale values win)."""
        path = self.templates_dir / spec.template / SAMPLE_FILE
        data = _read(path)
        context = dict(data.get("context", {}))
        context.update(data.get("locales", {}).get(locale, {}))
        missing = spec.variables - set(context)
        if missing:
            raise SampleError(
                f"{path}: no sample value for {', '.join(sorted(missing))} (locale {locale})"
            )
        return context
