"""The simulation's index opened in headless Chromium: filters hide and show rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lifecycle.local.mailbox import write_messages
from tests.index_page import sample_messages


def _visible(page: Any) -> list[str]:
    """Each visible row as `stage/locale/channel customer`."""
    rows = page.locator("#messages tbody tr:visible")
    return [
        "{}/{}/{} {}".format(
            *(rows.nth(i).locator(f"td.{c}").inner_text() for c in ("stage", "locale", "channel")),
            rows.nth(i).locator("td.customer").inner_text(),
        )
        for i in range(rows.count())
    ]


def test_filters_show_only_the_rows_that_match(browser: Any, tmp_path: Path) -> None:
    # given the index of a few emails and SMS, opened from disk
    index = write_messages(tmp_path, sample_messages(), "Emails and SMS sent")
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(index.as_uri())

    # then every row shows, and the controls the script reveals say so
    assert len(_visible(page)) == 5
    assert page.locator("#filters").is_visible()
    assert page.inner_text("#shown") == "5 of 5 shown"
    assert page.inner_text("#filters fieldset:has(legend:text('Channel'))").split() == [
        "Channel", "all", "(5)", "email", "(3)", "sms", "(2)"
    ]  # fmt: skip

    # when only SMS are chosen
    page.check("input[name=channel][value=sms]")

    # then only the SMS rows show
    assert _visible(page) == ["welcome/en/sms c-1", "order/nl/sms c-2"]
    assert page.inner_text("#shown") == "2 of 5 shown"

    # when Dutch is chosen as well, then the filters combine
    page.check("input[name=locale][value=nl]")
    assert _visible(page) == ["order/nl/sms c-2"]

    # when every channel is chosen again, then the Dutch email comes back
    page.check("input[name=channel][value='']")
    assert _visible(page) == ["welcome/nl/email c-2", "order/nl/sms c-2"]

    # when "Show all" is pressed, then every row shows again
    page.click("button[type=reset]")
    page.wait_for_function("document.getElementById('shown').textContent === '5 of 5 shown'")
    assert len(_visible(page)) == 5

    # and an email row's link opens the email
    page.click("#messages tbody tr:first-child a:text('HTML')")
    assert "Welcome, <b>Ann</b> & co" in page.inner_text("body")
    page.close()


def test_without_a_script_every_row_shows(browser: Any, tmp_path: Path) -> None:
    index = write_messages(tmp_path, sample_messages(), "Emails and SMS sent")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(index.as_uri())
    assert len(_visible(page)) == 5
    assert not page.locator("#filters").is_visible()
    assert "channel email 3, sms 2" in page.inner_text("body")
    context.close()
