"""The simulation's index page: a row per email and SMS, filters for what is there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lifecycle.local.mailbox import FILTERS, filter_options, html_lang, write_messages
from tests.index_page import read_index, sample_messages


def test_each_email_and_sms_is_a_row_in_time_order_with_its_files(tmp_path: Path) -> None:
    # given messages that arrive out of order
    messages = sample_messages()
    shuffled = messages[2:] + messages[:2]

    # when the index is written
    index = write_messages(tmp_path, shuffled, "Sent <here>")

    # then each is a row, oldest first, with what a person needs to find it
    page = read_index(index)
    assert [r["text"] for r in page.rows] == [m.text for m in messages]
    first = page.rows[0]
    assert first["when"] == "Tue 2026-12-01 09:00"
    assert (first["stage"], first["template"], first["locale"]) == ("welcome", "welcome", "en")
    assert (first["channel"], first["customer"]) == ("email", "c-1")
    # an email links its three files, which are written; an SMS has none
    assert page.links[0] == [f"day000-welcome-c-1.{ext}" for ext in ("html", "txt", "eml")]
    for link in page.links[0]:
        assert (tmp_path / link).is_file()
    assert page.links[1] == []
    assert page.rows[1]["channel"] == "sms"
    assert page.rows[1]["text"] == "Welcome Ann <3"
    assert (tmp_path / "day000-welcome-c-1.html").read_text("utf-8").startswith('<html lang="en">')


def test_subjects_and_texts_are_escaped_and_no_address_is_shown(tmp_path: Path) -> None:
    text = write_messages(tmp_path, sample_messages(), "Sent <here>").read_text("utf-8")
    assert "Welcome, &lt;b&gt;Ann&lt;/b&gt; &amp; co" in text
    assert "Welcome Ann &lt;3" in text
    assert "<title>Sent &lt;here&gt;</title>" in text
    assert "<b>Ann</b>" not in text
    assert "someone@example.com" not in text


def test_filters_offer_exactly_the_values_present_with_their_counts(tmp_path: Path) -> None:
    messages = sample_messages()
    page = read_index(write_messages(tmp_path, messages, "Sent"))

    for name, _ in FILTERS:
        present = Counter(row[name] for row in page.data)
        offered = page.options[name]
        assert set(offered) == {""} | set(present), name  # "" is "all"
        assert offered[""].split() == ["all", f"({len(messages)})"]
        for value, count in present.items():
            assert offered[value].split() == [value, f"({count})"]
    assert filter_options(messages)["channel"] == Counter(email=3, sms=2)
    assert set(page.options["locale"]) == {"", "en", "nl", "zh-TW"}
    assert set(page.options["stage"]) == {"", "welcome", "order"}


def test_without_a_script_every_row_shows_and_the_counts_are_said(tmp_path: Path) -> None:
    text = write_messages(tmp_path, sample_messages(), "Sent").read_text("utf-8")
    page = read_index(tmp_path / "index.html")
    # nothing is hidden in the markup: the script hides rows, and shows the controls
    assert " hidden" not in text.split("<tbody>")[1]
    assert page.form_hidden
    assert "form.hidden = false" in page.script
    assert "<noscript>" in text
    assert "channel email 3, sms 2" in text
    # nothing is loaded from anywhere: the page is opened from disk, offline
    assert "http://" not in text
    assert "https://" not in text
    assert "src=" not in text


def test_an_empty_simulation_writes_an_index_with_no_rows(tmp_path: Path) -> None:
    page = read_index(write_messages(tmp_path, [], "Sent"))
    assert page.rows == []
    assert page.options == {
        "stage": {"": " all (0)"},
        "locale": {"": " all (0)"},
        "channel": {"": " all (0)"},
    }


def test_the_copy_locale_is_read_from_the_layouts_html_tag() -> None:
    assert html_lang('<!DOCTYPE html>\n<html lang="zh-TW">\n<head>') == "zh-TW"
    assert html_lang("<p>no html tag</p>") is None
