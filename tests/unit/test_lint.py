"""`lifecycle lint`: one test per fault, each on a broken copy of the shipped templates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lifecycle.authoring.lint import NOTE, lint
from lifecycle.cli import main
from lifecycle.messaging import catalog
from lifecycle.messaging.message import Channel, Kind, MessageSpec
from tests.conftest import ROOT


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", target)
    return target


def _messages(templates: Path) -> list[str]:
    """Errors and warnings (notes say only what a language needs)."""
    return [str(f) for f in lint(templates) if f.severity != NOTE]


def test_shipped_templates_pass() -> None:
    assert _messages(ROOT / "templates") == []


def test_syntax_error_is_located(templates: Path) -> None:
    path = templates / "welcome" / "nl" / "email.html.j2"
    path.write_text(path.read_text("utf-8").replace("{{ first_name }}", "{{ first_name }"), "utf-8")

    found = _messages(templates)

    assert any(m.startswith("templates/welcome/nl/email.html.j2:5: syntax error") for m in found)


def test_variable_the_message_does_not_provide(templates: Path) -> None:
    (templates / "welcome" / "tr" / "sms.txt.j2").write_text(
        "Merhaba {{ first_name }}!\nKodunuz: {{ voucher_code }}\n", "utf-8"
    )

    found = _messages(templates)

    assert any(
        m.startswith("templates/welcome/tr/sms.txt.j2:2: variable 'voucher_code' is not provided")
        for m in found
    )


def test_attribute_the_business_does_not_have_is_caught_when_rendering(templates: Path) -> None:
    (templates / "welcome" / "email.subject.j2").write_text(
        "Welcome to {{ business.name }} ({{ business.phone }})", "utf-8"
    )

    found = _messages(templates)

    assert "templates/welcome/email.subject.j2:1: undefined variable 'business.phone'" in found


def test_missing_text_part(templates: Path) -> None:
    (templates / "welcome" / "email.txt.j2").unlink()

    assert "templates/welcome/email.txt.j2: missing template part" in _messages(templates)


def test_missing_locale_variant(templates: Path) -> None:
    shutil.rmtree(templates / "welcome" / "zh-TW")
    (templates / "welcome" / "nl" / "sms.txt.j2").unlink()

    found = _messages(templates)

    assert "templates/welcome/zh-TW: missing locale variant zh-TW" in found
    assert (
        "templates/welcome/nl/sms.txt.j2: missing nl variant of sms.txt.j2 "
        "(partial folder: nl customers get the whole message in en)"
    ) in found


def test_a_new_folder_holding_only_a_subject_is_a_partial_folder(templates: Path) -> None:
    # given a marketer starts German with the subject only
    (templates / "welcome" / "de").mkdir()
    (templates / "welcome" / "de" / "email.subject.j2").write_text(
        "Willkommen bei {{ business.name }}, {{ first_name }}!", "utf-8"
    )

    found = _messages(templates)

    # then every part German lacks is an error, the layout's German parts too
    partial = "(partial folder: de customers get the whole message in en)"
    for part in ("email.html.j2", "email.txt.j2", "sms.txt.j2"):
        assert f"templates/welcome/de/{part}: missing de variant of {part} {partial}" in found
    assert "templates/_layouts/de: missing locale variant de" in found
    assert main(["lint", str(templates)]) == 1


def test_every_locale_folder_that_exists_is_checked_not_only_the_supported_ones(
    templates: Path,
) -> None:
    # given a complete German welcome (and German layout), with a typo in its SMS
    shutil.copytree(templates / "welcome" / "nl", templates / "welcome" / "de")
    shutil.copytree(templates / "_layouts" / "nl", templates / "_layouts" / "de")
    (templates / "welcome" / "de" / "sms.txt.j2").write_text("Hallo {{ first_nme }}!", "utf-8")

    found = _messages(templates)

    assert any(
        m.startswith("templates/welcome/de/sms.txt.j2:1: variable 'first_nme' is not provided")
        for m in found
    )
    assert not any("missing" in m for m in found)


def test_a_gsm7_language_sms_that_becomes_ucs2_is_a_warning_naming_the_character(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given English SMS copy typed with a curly apostrophe
    (templates / "welcome" / "sms.txt.j2").write_text(
        "Welcome {{ first_name }}!\nWe\u2019re glad you\u2019re here.\n", "utf-8"
    )

    code = main(["lint", str(templates)])

    out = capsys.readouterr().out
    assert code == 0  # a warning does not fail lint
    assert (
        "templates/welcome/sms.txt.j2:2: warning: UCS-2 because of '\u2019' (U+2019): "
        "1 segment(s) (en can be written in GSM-7: 160 characters a segment, not 70)"
    ) in out


def test_sms_that_need_ucs2_for_their_language_are_notes(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(templates)]) == 0
    assert "note:" not in capsys.readouterr().out

    assert main(["lint", "--verbose", str(templates)]) == 0

    out = capsys.readouterr().out
    assert (
        "templates/order_scheduled/tr/sms.txt.j2:1: note: UCS-2 because of 'ı' (U+0131): "
        "2 segment(s)"
    ) in out
    assert "warning:" not in out


def test_windows_inserted_into_english_and_dutch_sms_keep_them_gsm7(templates: Path) -> None:
    found = [f for f in lint(templates) if "UCS-2" in f.message]

    assert found  # Turkish and Chinese
    assert not any("/nl/" in f.path or f.path.count("/") == 2 for f in found)


@pytest.fixture
def marketing_message(templates: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A marketing message, 'offer', copied from the welcome templates."""
    shutil.copytree(templates / "welcome", templates / "offer")
    spec = MessageSpec(
        template="offer",
        stage="retention",
        kind=Kind.MARKETING,
        channels=(Channel.EMAIL,),
        variables=frozenset({"first_name"}),
        topic="offers",
    )
    for path in (templates / "offer").rglob("sms.txt.j2"):
        path.unlink()
    monkeypatch.setitem(catalog.CATALOG, "offer", spec)
    return templates / "offer"


def test_marketing_email_passes_with_the_shared_footer(marketing_message: Path) -> None:
    assert _messages(marketing_message.parent) == []


def test_marketing_email_without_unsubscribe_link_or_postal_address(
    marketing_message: Path,
) -> None:
    templates = marketing_message.parent
    for path in (templates / "_layouts").rglob("footer.*.j2"):
        path.write_text("{{ business.name }}\n", "utf-8")

    found = _messages(templates)

    assert "templates/offer/email.html.j2: marketing email has no visible unsubscribe link" in found
    assert (
        "templates/offer/nl/email.txt.j2: marketing email does not show the postal address" in found
    )


def test_sms_over_its_segment_budget(templates: Path) -> None:
    (templates / "welcome" / "zh-TW" / "sms.txt.j2").write_text(
        "{{ first_name }}，" + "歡迎加入我們的到府洗衣服務，" * 10, "utf-8"
    )

    found = _messages(templates)

    assert any(
        m.startswith("templates/welcome/zh-TW/sms.txt.j2:1: SMS takes 3 segments (UCS-2")
        for m in found
    )


def test_subject_over_78_characters(templates: Path) -> None:
    (templates / "welcome" / "nl" / "email.subject.j2").write_text(
        "Welkom bij {{ business.name }}, {{ first_name }}! Plan vandaag nog je eerste "
        "ophaalmoment en krijg gratis bezorging",
        "utf-8",
    )

    found = _messages(templates)

    assert any(
        m.startswith("templates/welcome/nl/email.subject.j2:1: subject is 103 characters")
        for m in found
    )


def test_image_without_alt_text(templates: Path) -> None:
    path = templates / "welcome" / "email.html.j2"
    path.write_text(
        path.read_text("utf-8").replace(
            "{% block content %}\n",
            '{% block content %}\n<img src="https://freshfold.example/logo.png" width="120">\n',
        ),
        "utf-8",
    )

    assert "templates/welcome/email.html.j2:5: image without alt text" in _messages(templates)


def test_link_that_is_not_https(templates: Path) -> None:
    path = templates / "welcome" / "tr" / "email.html.j2"
    path.write_text(
        path.read_text("utf-8").replace(
            'href="{{ business.website }}"', 'href="http://freshfold.example/book"'
        ),
        "utf-8",
    )

    found = _messages(templates)

    assert (
        "templates/welcome/tr/email.html.j2:13: link is not https: 'http://freshfold.example/book'"
        in found
    )


def test_unsubscribe_link_without_ses_no_track_is_an_error(templates: Path) -> None:
    # given the Dutch footer's unsubscribe link without ses:no-track
    path = templates / "_layouts" / "nl" / "footer.html.j2"
    path.write_text(path.read_text("utf-8").replace(" ses:no-track", ""), "utf-8")

    # when lint runs
    found = [f for f in lint(templates) if f.severity == "error"]

    # then it names the file and line, and what SES would do
    assert [str(f) for f in found] == [
        "templates/_layouts/nl/footer.html.j2:4: link to unsubscribe_url lacks ses:no-track: "
        "SES click tracking would rewrite it (write <a ses:no-track href=...>)"
    ]


def test_rating_and_preference_links_need_ses_no_track_too(templates: Path) -> None:
    path = templates / "feedback_request" / "email.html.j2"
    path.write_text(path.read_text("utf-8").replace(" ses:no-track", ""), "utf-8")
    page = templates / "feedback_request" / "tr" / "email.html.j2"
    page.write_text(
        page.read_text("utf-8").replace(
            "{% endblock %}",
            '<a href="{{ unsubscribe_url }}" ses:no-track>ok</a>\n'
            '<a href="{{ preferences_url }}">no</a>\n{% endblock %}',
            1,
        ),
        "utf-8",
    )

    found = _messages(templates)

    assert any(
        m.startswith("templates/feedback_request/email.html.j2:10: link to rating.url lacks")
        for m in found
    )
    assert any(
        "feedback_request/tr/email.html.j2" in m and "preferences_url lacks" in m for m in found
    )
    assert not any("tr/email.html.j2" in m and "unsubscribe_url lacks" in m for m in found)


def test_sample_data_missing_a_declared_variable(templates: Path) -> None:
    (templates / "welcome" / "sample.json").write_text(json.dumps({"context": {}}), "utf-8")

    found = _messages(templates)

    assert any("no sample value for first_name" in m for m in found)


def test_cli_exits_non_zero_with_located_findings(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (templates / "welcome" / "email.txt.j2").unlink()

    code = main(["lint", str(templates)])

    assert code == 1
    assert "email.txt.j2: missing template part" in capsys.readouterr().out


BROKEN = [
    # (file, source, the line lint must print)
    (
        "welcome/sms.txt.j2",
        "Hi {{ first_name|capitalise }}!\n",
        "templates/welcome/sms.txt.j2:1: unknown filter 'capitalise' (did you mean 'capitalize'?)",
    ),
    (
        "welcome/email.subject.j2",
        "Welcome to {{ business.nme }}\n",
        "templates/welcome/email.subject.j2:1: undefined variable 'business.nme'",
    ),
    (
        "welcome/nl/email.txt.j2",
        "{% extends layout.text %}\n{% block content %}\n{% if first_name %}\nHoi\n"
        "{% endblock %}\n",
        "templates/welcome/nl/email.txt.j2:3: syntax error: {% if %} is never closed "
        "(no {% endif %} before line 5)",
    ),
    (
        "welcome/tr/sms.txt.j2",
        "Merhaba\n{% for x in [1, 2] %}\n{{ first_name }}\n",
        "templates/welcome/tr/sms.txt.j2:2: syntax error: {% for %} is never closed "
        "(no {% endfor %} before the end of the file)",
    ),
    (
        "welcome/email.txt.j2",
        "{% extends layout.text %}\n{% block content %}\nHi {{ first_name }}\n{% endblock %}\n"
        "\nP.S. book today\n",
        "templates/welcome/email.txt.j2:6: text outside any block is never shown "
        "(the template extends a layout): 'P.S. book today'",
    ),
    (
        "welcome/zh-TW/email.html.j2",
        "{% extends layout.html %}\n{% block content %}\n<p>{{ first_name }</p>\n{% endblock %}\n",
        "templates/welcome/zh-TW/email.html.j2:3: syntax error: unexpected '}'",
    ),
    (
        "order_delivered/email.txt.j2",
        "{% extends layout.text %}\n{% block content %}\n{{ order_id|money }}\n{% endblock %}\n",
        "templates/order_delivered/email.txt.j2:3: filter 'money' cannot format str 'FF-10482'",
    ),
    (
        "welcome/nl/sms.txt.j2",
        "Hoi {{ first_name }}\n{{ 1 / 0 }}\n",
        "templates/welcome/nl/sms.txt.j2:2: ZeroDivisionError: division by zero",
    ),
]


@pytest.mark.parametrize(("file", "source", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_template_is_one_located_line_never_a_traceback(
    templates: Path, capsys: pytest.CaptureFixture[str], file: str, source: str, expected: str
) -> None:
    (templates / file).write_text(source, "utf-8")

    code = main(["lint", str(templates)])

    out, err = capsys.readouterr()
    assert code == 1
    assert expected in out.splitlines()
    assert "Traceback" not in out + err
    assert all(line.startswith("templates/") for line in out.splitlines())


def test_all_broken_templates_at_once_are_each_reported(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for file, source, _ in BROKEN:
        (templates / file).write_text(source, "utf-8")

    code = main(["lint", str(templates)])

    out, err = capsys.readouterr()
    assert code == 1
    for _, _, expected in BROKEN:
        assert expected in out.splitlines()
    assert "Traceback" not in out + err
    assert f"{len(out.splitlines())} error(s)" in err


def test_malformed_json_and_bytes_are_findings_not_crashes(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (templates / "_pages" / "strings.json").write_text('["not", "an", "object"]', "utf-8")
    (templates / "welcome" / "sample.json").write_bytes(b"\xff\xfe{}")

    code = main(["lint", str(templates)])

    out, err = capsys.readouterr()
    assert code == 1
    assert "templates/_pages/strings.json: must hold a JSON object of locales" in out
    assert "templates/welcome/sample.json: not UTF-8 text" in out
    assert "Traceback" not in out + err


# ---------------------------------------------------------------------- campaign folders
def test_a_campaign_folder_is_linted_with_the_spec_its_parts_make(templates: Path) -> None:
    campaign = templates / "campaign_eco_wash"
    (campaign / "nl" / "sms.txt.j2").write_text(
        "{{ first_name }}, {{ voucher_code }}: {{ link }}\n", "utf-8"
    )
    (campaign / "tr" / "email.subject.j2").write_text("{{ details.launch_day }", "utf-8")
    (campaign / "zh-TW" / "sms.txt.j2").write_text(
        "{{ first_name }}，" + "環保洗衣服務全新推出，" * 14 + "{{ link }}", "utf-8"
    )
    (campaign / "email.txt.j2").unlink()

    found = _messages(templates)

    assert any(
        m.startswith("templates/campaign_eco_wash/nl/sms.txt.j2:1: variable 'voucher_code' is")
        for m in found
    )
    assert any(
        m.startswith("templates/campaign_eco_wash/tr/email.subject.j2:1: syntax error")
        for m in found
    )
    assert any(
        m.startswith("templates/campaign_eco_wash/zh-TW/sms.txt.j2:1: SMS takes 3 segments")
        for m in found
    )
    # an email part missing is an email missing a part, not an SMS-only campaign
    assert "templates/campaign_eco_wash/email.txt.j2: missing template part" in found
    assert not any("not a message in the catalog" in m for m in found)


def test_a_campaign_folder_needs_its_supported_locales_and_sample(templates: Path) -> None:
    campaign = templates / "campaign_eco_wash_b"
    shutil.rmtree(campaign / "tr")
    (campaign / "sample.json").unlink()

    found = _messages(templates)

    assert "templates/campaign_eco_wash_b/tr: missing locale variant tr" in found
    assert "templates/campaign_eco_wash_b/sample.json: missing sample data" in found


def test_a_campaign_sample_lacking_a_campaign_variable_is_reported(templates: Path) -> None:
    path = templates / "campaign_eco_wash" / "sample.json"
    sample = json.loads(path.read_text("utf-8"))
    del sample["context"]["prospect"]
    path.write_text(json.dumps(sample), "utf-8")

    found = _messages(templates)

    assert any(
        m.startswith("templates/campaign_eco_wash/sample.json: no sample value for prospect")
        for m in found
    )


def test_a_campaign_folder_with_no_channels_parts_is_reported(templates: Path) -> None:
    empty = templates / "campaign_spring"
    (empty / "nl").mkdir(parents=True)
    (empty / "nl" / "email.subject.j2").write_text("Lente, {{ first_name }}!", "utf-8")
    (templates / "spring_sale").mkdir()

    found = _messages(templates)

    assert any(
        m.startswith("templates/campaign_spring: campaign folder holds no channel's parts")
        for m in found
    )
    # its templates are still read with the campaign's variables
    assert not any(m.startswith("templates/campaign_spring/nl/email.subject.j2") for m in found)
    assert "templates/spring_sale: folder is not a message in the catalog" in found
