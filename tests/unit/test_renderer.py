from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lifecycle.messaging.errors import RenderError
from lifecycle.messaging.renderer import Renderer, locale_chain
from tests.conftest import ROOT
from tests.fakes import BUSINESS


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(ROOT / "templates", "en", BUSINESS)


@pytest.fixture
def copy_of_templates(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", target)
    return target


def test_locale_chain_goes_from_specific_to_default_to_english() -> None:
    assert locale_chain("nl-NL", "tr") == ["nl-NL", "nl", "tr", "en"]
    assert locale_chain("zh-Hant-TW", "en") == ["zh-Hant-TW", "zh-Hant", "zh", "en"]
    assert locale_chain(None, "nl") == ["nl", "en"]


@pytest.mark.parametrize(
    ("locale", "chosen"),
    [
        ("nl-NL", "nl"),
        ("nl-BE", "nl"),
        ("zh-TW", "zh-TW"),
        ("zh-tw", "zh-TW"),
        ("tr-TR", "tr"),
        ("en-GB", "en"),
        ("fr-FR", "en"),
        (None, "en"),
    ],
)
def test_resolve_locale(renderer: Renderer, locale: str | None, chosen: str) -> None:
    assert renderer.resolve_locale("welcome", locale) == chosen


def test_unknown_locale_falls_back_to_the_stack_default() -> None:
    renderer = Renderer(ROOT / "templates", "nl", BUSINESS)

    assert renderer.resolve_locale("welcome", "fr-FR") == "nl"


def test_email_has_layout_footer_and_text_part(renderer: Renderer) -> None:
    email = renderer.email("welcome", "en", {"first_name": "Ann"})

    assert email.subject == "Welcome to Fresh Fold Laundry, Ann!"
    assert '<html lang="en">' in email.html
    assert BUSINESS.postal_address in email.html
    assert BUSINESS.postal_address in email.text
    assert "Hi Ann, welcome!" in email.text
    # non-marketing: no unsubscribe block
    assert "Unsubscribe" not in email.html


def test_html_is_autoescaped_text_and_subject_are_not(renderer: Renderer) -> None:
    email = renderer.email("welcome", "en", {"first_name": '<script>alert("x")</script>'})

    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert '<script>alert("x")</script>' in email.text


def test_localised_footer_comes_with_the_localised_message(renderer: Renderer) -> None:
    email = renderer.email("welcome", "nl-NL", {"first_name": "Sanne"})

    assert email.locale == "nl"
    assert "Je ontvangt deze e-mail" in email.html
    assert '<html lang="nl">' in email.html


def test_sms_whitespace_is_collapsed(renderer: Renderer) -> None:
    sms = renderer.sms("welcome", "en", {"first_name": "Ann"})

    assert sms.text.startswith("Welcome to Fresh Fold Laundry, Ann!")
    assert "\n" not in sms.text


def test_undefined_variable_names_template_line_and_variable(copy_of_templates: Path) -> None:
    (copy_of_templates / "welcome" / "email.html.j2").write_text(
        "{% extends layout.html %}\n{% block content %}\n<p>{{ voucher }}</p>\n{% endblock %}\n",
        encoding="utf-8",
    )
    renderer = Renderer(copy_of_templates, "en", BUSINESS)

    with pytest.raises(RenderError) as raised:
        renderer.email("welcome", "en", {"first_name": "Ann"})

    assert raised.value.variable == "voucher"
    assert raised.value.template == "welcome/email.html.j2:3"
    assert "undefined variable 'voucher'" in raised.value.reason


def test_missing_attribute_of_a_provided_object_is_an_error(copy_of_templates: Path) -> None:
    (copy_of_templates / "welcome" / "email.subject.j2").write_text(
        "{{ business.phone }}", encoding="utf-8"
    )
    renderer = Renderer(copy_of_templates, "en", BUSINESS)

    with pytest.raises(RenderError) as raised:
        renderer.email("welcome", "en", {"first_name": "Ann"})

    assert raised.value.variable == "business.phone"  # the whole path, not just `phone`
    assert "undefined variable 'business.phone'" in raised.value.reason


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ first_name.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{% set x = business.update({'name': 'pwned'}) %}{{ x }}",
    ],
)
def test_templates_cannot_escape_the_sandbox(copy_of_templates: Path, escape: str) -> None:
    (copy_of_templates / "welcome" / "email.subject.j2").write_text(escape, encoding="utf-8")
    renderer = Renderer(copy_of_templates, "en", BUSINESS)

    with pytest.raises(RenderError):
        renderer.email("welcome", "en", {"first_name": "Ann"})


@pytest.mark.parametrize(
    ("source", "where", "problem"),
    [
        ("Hi {{ first_name }\n", "welcome/sms.txt.j2:1", "syntax error"),
        # a block left open is reported where it opens, not at the end of the file
        (
            "Hi\n{% if first_name %}\n{{ first_name }}\n\n",
            "welcome/sms.txt.j2:2",
            "{% if %} is never closed",
        ),
        # a filter given the wrong kind of value fails the message, it does not crash
        ("Hi {{ first_name|window }}", "welcome/sms.txt.j2:1", "filter 'window' cannot format str"),
    ],
)
def test_a_broken_template_is_a_located_render_error(
    copy_of_templates: Path, source: str, where: str, problem: str
) -> None:
    (copy_of_templates / "welcome" / "sms.txt.j2").write_text(source, encoding="utf-8")
    renderer = Renderer(copy_of_templates, "en", BUSINESS)

    with pytest.raises(RenderError) as raised:
        renderer.sms("welcome", "en", {"first_name": "Ann"})

    assert raised.value.template == where
    assert problem in raised.value.reason


def test_missing_part_is_named(copy_of_templates: Path) -> None:
    (copy_of_templates / "welcome" / "email.txt.j2").unlink()
    renderer = Renderer(copy_of_templates, "en", BUSINESS)

    with pytest.raises(RenderError) as raised:
        renderer.email("welcome", "en", {"first_name": "Ann"})

    assert raised.value.template == "welcome/email.txt.j2"


def test_a_partial_locale_folder_is_never_used_so_no_message_mixes_languages(
    copy_of_templates: Path,
) -> None:
    # given a German folder with only a subject (and a German layout)
    shutil.copytree(copy_of_templates / "_layouts" / "nl", copy_of_templates / "_layouts" / "de")
    (copy_of_templates / "welcome" / "de").mkdir()
    (copy_of_templates / "welcome" / "de" / "email.subject.j2").write_text(
        "Willkommen, {{ first_name }}!", encoding="utf-8"
    )
    renderer = Renderer(copy_of_templates, "en", BUSINESS)

    email = renderer.email("welcome", "de-DE", {"first_name": "Jonas"})

    # then the whole message falls back to English, subject included
    assert email.locale == "en"
    assert email.subject == "Welcome to Fresh Fold Laundry, Jonas!"
    assert renderer.locale_folders("welcome")["de"] == (
        "email.html.j2",
        "email.txt.j2",
        "sms.txt.j2",
    )


def test_a_locale_without_its_layout_footer_falls_back_whole(copy_of_templates: Path) -> None:
    # given a complete German welcome but no German footer
    shutil.copytree(copy_of_templates / "welcome" / "nl", copy_of_templates / "welcome" / "de")
    renderer = Renderer(copy_of_templates, "en", BUSINESS)

    assert renderer.resolve_locale("welcome", "de") == "en"
    assert "_layouts/de/footer.html.j2" in renderer.locale_folders("welcome")["de"]
