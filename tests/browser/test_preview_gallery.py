"""`lifecycle preview` opened in headless Chromium: the gallery shows every message and locale."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from lifecycle.cli import main
from lifecycle.messaging.catalog import CATALOG, SUPPORTED_LOCALES
from lifecycle.messaging.message import Channel
from tests.conftest import ROOT


def test_gallery_shows_every_message_and_locale(browser: Any, tmp_path: Path) -> None:
    # given the gallery rendered from the shipped templates
    out = tmp_path / "preview"
    assert main(["preview", "--templates", str(ROOT / "templates"), "--out", str(out)]) == 0

    # when it is opened in a phone-sized and a desktop-sized browser window
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto((out / "index.html").as_uri())
    shot = tmp_path / "gallery.png"
    page.screenshot(path=str(shot), full_page=True)

    # then every message has a section with a row per locale, subjects and SMS sizes
    for template in CATALOG:
        section = page.locator(f"section#{template}")
        assert section.is_visible()
        rows = section.locator("tbody tr")
        assert rows.count() == len(SUPPORTED_LOCALES)
        for index, locale in enumerate(SUPPORTED_LOCALES):
            row = rows.nth(index)
            assert row.locator("td").first.inner_text() == locale
            if Channel.SMS in CATALOG[template].channels:
                assert "segment(s)" in row.inner_text()
            assert row.locator("iframe").is_visible()
    assert "歡迎加入" in page.inner_text("section#welcome")
    # raw sample values formatted as in a real send: one language per row, GSM-7 kept
    assert "上午9:00至11:00" in page.inner_text("section#order_scheduled")
    assert "UCS-2 because of 'ı' (U+0131)" in page.inner_text("section#order_scheduled")
    assert page.locator(".error").count() == 0

    # and each email link opens the rendered message
    page.click("section#welcome tbody tr:nth-child(2) a:text('HTML')")
    assert "Hoi Sanne, welkom!" in page.inner_text("body")

    # and the screenshot is a real full-page image
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])
    assert width == 1200
    assert height > 900
    page.close()
