"""`lifecycle preview` shows what is sent: raw sample values formatted by the send's own code."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from lifecycle.authoring.preview import Entry, render_all
from lifecycle.authoring.samples import Samples
from lifecycle.messaging.formatting import Money, Span
from lifecycle.stages.orders.messages import ORDER_DELIVERED, ORDER_SCHEDULED
from tests.conftest import ROOT

TEMPLATES = ROOT / "templates"
# What a hand-formatted value looks like: an amount with a currency sign, a clock time.
_FORMATTED = re.compile(r"[€$£¥]|\b\d{1,2}:\d{2}\b")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def test_sample_data_hold_raw_values_never_formatted_text() -> None:
    for path in sorted(TEMPLATES.glob("*/sample.json")):
        data = json.loads(path.read_text("utf-8"))
        data.pop("_about", None)
        typed = [s for s in _strings(data) if _FORMATTED.search(s) and not s.startswith("20")]
        assert typed == [], path

    samples = Samples.load(TEMPLATES)
    assert isinstance(samples.context(ORDER_SCHEDULED, "nl")["pickup_window"], Span)
    assert isinstance(samples.context(ORDER_DELIVERED, "tr")["total"], Money)


def _entry(entries: list[Entry], template: str, locale: str) -> Entry:
    return next(e for e in entries if e.spec.template == template and e.locale == locale)


def test_preview_formats_samples_in_the_copy_locale_and_names_ucs2(tmp_path: Path) -> None:
    entries = render_all(TEMPLATES, tmp_path)

    assert all(e.error is None for e in entries)
    receipt = (tmp_path / "order_delivered" / "nl" / "email.txt").read_text("utf-8")
    assert "4,5 x €\u00a02,90 = €\u00a013,05" in receipt
    english = _entry(entries, "order_scheduled", "en")
    assert english.sms is not None
    assert "Tue, Nov 24, 9:00 - 11:00 AM" in english.sms
    assert english.sms_size is not None
    assert (english.sms_size.encoding, english.ucs2) == ("GSM-7", None)
    chinese = _entry(entries, "order_scheduled", "zh-TW")
    assert chinese.sms is not None
    assert "上午9:00至11:00" in chinese.sms
    assert _entry(entries, "order_scheduled", "tr").ucs2 == "UCS-2 because of 'ı' (U+0131)"
    assert "UCS-2 because of" in (tmp_path / "index.html").read_text("utf-8")


def test_a_partial_folder_shows_which_copy_its_customers_get(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "welcome" / "de").mkdir()
    (templates / "welcome" / "de" / "email.subject.j2").write_text("Willkommen!", "utf-8")

    entries = render_all(templates, tmp_path / "out")

    german = _entry(entries, "welcome", "de")
    assert german.fallback is not None
    assert german.fallback.startswith("de customers get the en copy (partial folder, lacks")
    assert german.subject == "Welcome to Fresh Fold Laundry, Ann!"


def test_preview_includes_the_campaign_template_folders(tmp_path: Path) -> None:
    entries = render_all(TEMPLATES, tmp_path)

    variant_b = _entry(entries, "campaign_eco_wash_b", "nl")
    assert variant_b.error is None
    assert variant_b.spec.topic == "announcements"
    assert (
        variant_b.subject == "Nieuw bij Fresh Fold Laundry: ecowas, zacht voor kleding en planeet"
    )
    assert variant_b.sms is not None
    assert variant_b.sms.endswith("Antwoord STOP om af te melden")
    assert (tmp_path / "campaign_eco_wash" / "tr" / "email.html").is_file()
    assert 'id="campaign_eco_wash"' in (tmp_path / "index.html").read_text("utf-8")
