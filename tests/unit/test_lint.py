"""`lifecycle lint`: one test per fault, each on a broken copy of the shipped templates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lifecycle.authoring.lint import lint
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
    return [str(f) for f in lint(templates)]


def test_shipped_templates_pass() -> None:
    assert lint(ROOT / "templates") == []


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
    assert "templates/welcome/nl/sms.txt.j2: missing nl variant of sms.txt.j2" in found


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
