"""`lifecycle simulate` writes an index of every email and SMS the sample world received."""

from __future__ import annotations

import io
from pathlib import Path

from lifecycle.local.mailbox import FILTERS, html_lang
from lifecycle.local.simulate import simulate
from tests.index_page import read_index


def test_the_index_lists_every_email_and_sms_the_ledger_calls_sent(tmp_path: Path) -> None:
    # given a few simulated days (sign-ups, a first order: emails and SMS in several locales)
    report = simulate(days=4, out_dir=tmp_path, out=io.StringIO(), progress=None)

    # when the index is read back
    page = read_index(tmp_path / "emails" / "index.html")

    # then it has one row per message sent, by channel, as the ledger says
    sent = report.sent()
    for channel in ("email", "sms"):
        ledger = sorted((r["customer_id"], r["template"]) for r in sent if r["channel"] == channel)
        rows = sorted((r["customer"], r["template"]) for r in page.rows if r["channel"] == channel)
        assert rows == ledger, channel
        assert rows
    assert {r["stage"] for r in page.rows} == {r["stage"] for r in sent}
    # in simulated time, numbered by day as the timeline numbers them
    assert page.rows[0]["when"].startswith("Day 0, Tue 2026-12-01 ")

    # and the filters offer exactly the stages, locales and channels present (and "all")
    for name, _ in FILTERS:
        assert set(page.options[name]) == {""} | {row[name] for row in page.data}
    assert set(page.options["channel"]) == {"", "email", "sms"}
    assert len(page.options["locale"]) > 3  # the sample world speaks several languages

    # and each email's locale is the one its HTML declares, its files are there
    for row, links in zip(page.rows, page.links, strict=True):
        if row["channel"] == "email":
            html = (tmp_path / "emails" / links[0]).read_text("utf-8")
            assert html_lang(html) == row["locale"]
            assert all((tmp_path / "emails" / link).is_file() for link in links)
        else:
            assert links == []
            assert row["text"]

    # and no address or phone number is on the page
    text = (tmp_path / "emails" / "index.html").read_text("utf-8")
    for customer in report.customers.values():
        for contact in ("email", "phone"):
            if customer.get(contact):
                assert str(customer[contact]) not in text
