"""Pinpoint message templates become campaign template folders that send what Pinpoint sent.

The expected outputs in tests/fixtures/pinpoint/expected/ were written by hand from Pinpoint's
documented Handlebars semantics; the converted templates are rendered by the product's own
renderer, layout and all, as a real send renders them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from lifecycle.authoring.lint import ERROR, WARNING, lint
from lifecycle.messaging.renderer import Renderer
from lifecycle.pinpoint.mapping import Mapping, load
from lifecycle.pinpoint.report import Outcome
from lifecycle.pinpoint.templates import (
    CARRIED_DIFFERENTLY,
    DERIVED,
    MALFORMED,
    NEEDS_TRANSLATION,
    NO_EQUIVALENT,
    NOT_A_TEMPLATE,
    REPLACED_BY_LAYOUT,
    TemplateImport,
    convert,
    write,
)
from tests.conftest import ROOT
from tests.fakes import BUSINESS

SAMPLES = ROOT / "events" / "pinpoint" / "templates"
EXPECTED = ROOT / "tests" / "fixtures" / "pinpoint" / "expected"
MAPPING = load(SAMPLES.parent / "mapping.yaml")
FOLDERS = {
    "spring-offer": "campaign_spring_offer",
    "order-thanks": "campaign_order_thanks",
    "pickup-promo": "campaign_pickup_promo",
    "spring-offer-b": "campaign_spring_offer_b",
}

# The recipients of the expected outputs (see the README there), as the endpoint import leaves
# them: list attributes joined with ", ".
RECIPIENTS: dict[str, dict[str, Any]] = {
    "city": {
        "first_name": "ann",
        "prospect": False,
        "attributes": {
            "city": "den haag",
            "tier": "gold",
            "services": "Wash & fold, Dry cleaning",
            "next_pickup": "2026-05-19",
            "promo_code": "free-may",
        },
        "link": "https://freshfold.example/spring",
        "details": {},
    },
    "none": {
        "first_name": "Bram",
        "prospect": False,
        "attributes": {},
        "link": "https://freshfold.example/spring",
        "details": {},
    },
}

# What the product does not carry (each one reported by the import), as Pinpoint's text -> the
# product's: User.UserId has no equivalent (shown as nothing); the unsubscribe paragraph is the
# layout's footer's job; dateFormat shows the stored value; text parts print values as they are
# (Handlebars escapes HTML in every part, even plain text).
NOT_CARRIED: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("spring-offer", "HtmlPart"): [
        ("ref=u-1001", "ref="),
        ("ref=u-1002", "ref="),
        (
            '<p style="font-size:12px;color:#5f6b76;">Don\'t want these emails? <a href="'
            'https://freshfold.example/unsubscribe?u=u-1001">Unsubscribe</a></p>\n',
            "",
        ),
        (
            '<p style="font-size:12px;color:#5f6b76;">Don\'t want these emails? <a href="'
            'https://freshfold.example/unsubscribe?u=u-1002">Unsubscribe</a></p>\n',
            "",
        ),
    ],
    ("order-thanks", "HtmlPart"): [("Tuesday, May 19, 2026", "2026-05-19")],
    ("order-thanks", "TextPart"): [
        ("Tuesday, May 19, 2026", "2026-05-19"),
        ("Wash &amp; fold", "Wash & fold"),
    ],
}
_CONTENT = re.compile(
    r'color:#1d2329;">\n(?P<content>.*?)\n</td></tr>\n<tr><td style="padding:18px', re.DOTALL
)


def responses(*names: str) -> list[tuple[str, dict[str, Any]]]:
    files = [SAMPLES / name for name in names] or sorted(SAMPLES.glob("*Template-*.json"))
    return [(str(path.relative_to(ROOT)), json.loads(path.read_text("utf-8"))) for path in files]


def email(name: str, **fields: Any) -> dict[str, Any]:
    return {"EmailTemplateResponse": {"TemplateName": name, "TemplateType": "EMAIL", **fields}}


def sms(name: str, body: str, **fields: Any) -> dict[str, Any]:
    return {
        "SMSTemplateResponse": {"TemplateName": name, "TemplateType": "SMS", "Body": body, **fields}
    }


@pytest.fixture(scope="module")
def imported() -> TemplateImport:
    return convert(responses(), MAPPING)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, imported: TemplateImport) -> Path:
    """The product's templates with the converted folders written beside them."""
    target = tmp_path_factory.mktemp("pinpoint") / "templates"
    shutil.copytree(ROOT / "templates", target)
    write(imported, target, dry_run=False)
    return target


@pytest.fixture(scope="module")
def renderer(templates: Path) -> Renderer:
    return Renderer(templates, "en", BUSINESS)


def rendered(renderer: Renderer, template: str, part: str, case: str) -> str:
    folder, context = FOLDERS[template], RECIPIENTS[case]
    if part == "Body":
        return renderer.sms(folder, "en", context).text
    message = renderer.email(folder, "en", {**context, "unsubscribe_url": "https://u.example/x"})
    if part == "Subject":
        return message.subject
    if part == "TextPart":
        return message.text.split("\n--\n", 1)[0].strip()
    found = _CONTENT.search(message.html)
    assert found, message.html
    return found["content"].strip()


def pinpoint_sent(template: str, part: str, case: str) -> str:
    suffix = "html" if part == "HtmlPart" else "txt"
    text = (EXPECTED / f"{template}.{part}.{case}.{suffix}").read_text("utf-8")
    for theirs, ours in NOT_CARRIED.get((template, part), []):
        text = text.replace(theirs, ours)
    return text.strip()


def problems(result: TemplateImport, kind: str | None = None) -> list[str]:
    return [p.line() for p in result.problems if kind is None or p.kind == kind]


# ---------------------------------------------------------------------------------- samples
def test_each_sample_becomes_a_campaign_folder(imported: TemplateImport) -> None:
    assert imported.sources == {
        "campaign_order_thanks": ["order-thanks"],
        "campaign_pickup_promo": ["pickup-promo"],
        "campaign_spring_offer": ["spring-offer"],
        "campaign_spring_offer_b": ["spring-offer-b"],
    }
    email_parts = {"email.subject.j2", "email.html.j2", "email.txt.j2", "sample.json"}
    assert set(imported.folders["campaign_spring_offer"]) == email_parts
    assert set(imported.folders["campaign_order_thanks"]) == email_parts
    assert set(imported.folders["campaign_pickup_promo"]) == {"sms.txt.j2", "sample.json"}


@pytest.mark.parametrize("case", ["city", "none"])
@pytest.mark.parametrize(
    ("template", "part"),
    [
        ("spring-offer", "Subject"),
        ("spring-offer", "HtmlPart"),
        ("order-thanks", "Subject"),
        ("order-thanks", "HtmlPart"),
        ("order-thanks", "TextPart"),
        ("pickup-promo", "Body"),
    ],
)
def test_converted_templates_send_what_pinpoint_sent(
    renderer: Renderer, template: str, part: str, case: str
) -> None:
    # Given a recipient with every attribute (conditions true) or none (conditions false)
    # When the converted template is rendered as a real send renders it
    ours = rendered(renderer, template, part, case)

    # Then it is Pinpoint's text, but for what the import reported it could not carry
    assert ours == pinpoint_sent(template, part, case)


def test_the_email_extends_the_layout_and_keeps_pinpoints_inline_styles_and_title(
    imported: TemplateImport, renderer: Renderer
) -> None:
    html = imported.folders["campaign_spring_offer"]["email.html.j2"]
    assert html.startswith("{% extends layout.html %}\n")
    assert "<body" not in html
    assert "<head" not in html
    assert "<style" not in html
    assert "{% block title %}Spring offer from Fresh Fold{% endblock %}" in html

    message = renderer.email(
        "campaign_spring_offer",
        "en",
        {**RECIPIENTS["none"], "unsubscribe_url": "https://u.example/x"},
    )
    assert 'style="font-size:22px;color:#1f6f8b;"' in message.html
    assert "<title>Spring offer from Fresh Fold</title>" in message.html
    # the layout's footer: the postal address and the product's own unsubscribe link
    assert BUSINESS.postal_address in message.html
    assert "https://u.example/x" in message.html
    assert "freshfold.example/unsubscribe" not in message.html


def test_an_email_without_a_text_part_gets_one_made_from_its_html(
    imported: TemplateImport, renderer: Renderer
) -> None:
    assert (
        "spring-offer TextPart: no text part: made from the HTML part; check it reads well"
        in problems(imported, DERIVED)
    )

    text = rendered(renderer, "spring-offer", "TextPart", "city")

    assert text == (
        "Hi Ann,\n\n"
        "Our vans now pick up all over den haag, seven days a week.\n\n"
        "As a GOLD customer you get 20% off dry cleaning until May 31.\n\n"
        "Book a pickup: https://freshfold.example/book?utm_campaign=spring&ref="
    )


def test_the_sample_holds_pinpoints_defaults_in_the_products_shape(
    imported: TemplateImport,
) -> None:
    sample = json.loads(imported.folders["campaign_spring_offer"]["sample.json"])

    assert sample["context"] == {
        "first_name": "there",
        "prospect": False,
        "attributes": {"tier": "valued"},
        "link": "https://example.com/offer",
        "details": {},
    }
    assert sample["_about"].startswith(
        "Imported from Pinpoint: email template spring-offer version 3 "
        "(Spring dry-cleaning offer for existing customers)."
    )


def test_problems_name_the_template_part_and_line(imported: TemplateImport) -> None:
    assert (
        "spring-offer HtmlPart line 20: {{User.UserId}}: the product's customers have no such "
        "field; shown as nothing" in problems(imported, NO_EQUIVALENT)
    )
    assert any(
        p.startswith("spring-offer HtmlPart line 21: its own unsubscribe link is left out")
        for p in problems(imported, REPLACED_BY_LAYOUT)
    )
    assert any(
        p.startswith("spring-offer HtmlPart line 6: the <style> in the head is left out")
        for p in problems(imported, REPLACED_BY_LAYOUT)
    )
    differently = problems(imported, CARRIED_DIFFERENTLY)
    assert any(
        p.startswith("order-thanks HtmlPart line 14: {{#with Location}}") for p in differently
    )
    assert any(
        p.startswith("order-thanks HtmlPart line 25: {{dateFormat Attributes.NextPickup.[0]")
        for p in differently
    )
    assert any(p.startswith("order-thanks TextPart line 23: {{dateFormat") for p in differently)
    assert any(p.startswith("pickup-promo Body line 1: capitalize") for p in differently)
    assert sorted(p.where for p in imported.problems if p.kind == NEEDS_TRANSLATION) == sorted(
        FOLDERS.values()
    )


def test_the_converted_folders_pass_lint_and_warn_of_their_translations(templates: Path) -> None:
    # Given the product's templates and the converted folders
    # When lint checks them all
    findings = lint(templates)

    # Then there is no error: the English originals render, fit and link as lint asks
    assert [str(f) for f in findings if f.severity == ERROR] == []
    # and each folder warns that it is written in English only (reported as "needs
    # translation" by the import too)
    warned = [str(f) for f in findings if f.severity == WARNING and "written in en only" in str(f)]
    assert sorted(warned) == sorted(
        f"templates/{folder}/sample.json: warning: written in en only: customers in nl, zh-TW, "
        "tr get the en copy (add a locale folder to translate it)"
        for folder in FOLDERS.values()
    )


# ---------------------------------------------------------------------------------- writing
def test_write_reports_new_then_unchanged_then_updated_and_a_dry_run_writes_nothing(
    tmp_path: Path,
) -> None:
    first = convert(responses("SmsTemplate-pickup-promo.json"), MAPPING)

    assert write(first, tmp_path, dry_run=True) == {"campaign_pickup_promo": Outcome.NEW}
    assert not (tmp_path / "campaign_pickup_promo").exists()
    assert write(first, tmp_path, dry_run=False) == {"campaign_pickup_promo": Outcome.NEW}
    assert write(first, tmp_path, dry_run=False) == {"campaign_pickup_promo": Outcome.UNCHANGED}

    ((_, data),) = responses("SmsTemplate-pickup-promo.json")
    data["SMSTemplateResponse"]["Body"] = "Fresh Fold: free pickup this week!"
    changed = convert([("changed.json", data)], MAPPING)
    before = (tmp_path / "campaign_pickup_promo" / "sms.txt.j2").read_text("utf-8")

    assert write(changed, tmp_path, dry_run=True) == {"campaign_pickup_promo": Outcome.UPDATED}
    assert (tmp_path / "campaign_pickup_promo" / "sms.txt.j2").read_text("utf-8") == before
    assert write(changed, tmp_path, dry_run=False) == {"campaign_pickup_promo": Outcome.UPDATED}
    assert (tmp_path / "campaign_pickup_promo" / "sms.txt.j2").read_text("utf-8") == (
        "Fresh Fold: free pickup this week!\n"
    )


# ---------------------------------------------------------------------------------- inputs
def test_what_is_not_a_template_is_a_problem_never_a_crash() -> None:
    result = convert(
        [
            ("notes.json", {"hello": "world"}),
            ("list.json", [1, 2]),  # type: ignore[list-item]
            ("push.json", {"PushNotificationTemplateResponse": {"TemplateName": "p"}}),
            ("voice.json", {"TemplateName": "v", "TemplateType": "VOICE"}),
            ("inner.json", {"TemplateName": "inner", "TemplateType": "SMS", "Body": "Hi there"}),
        ],
        MAPPING,
    )

    assert [p.where for p in result.problems if p.kind == NOT_A_TEMPLATE] == [
        "notes.json",
        "list.json",
        "push.json",
    ]
    assert "voice.json: v: VOICE templates have no equivalent" in problems(result, NO_EQUIVALENT)
    assert result.folders["campaign_inner"]["sms.txt.j2"] == "Hi there\n"


@pytest.mark.parametrize(
    ("html", "where", "detail"),
    [
        (
            "<p>\n{{#if Location.City}}\nHi\n",
            "x HtmlPart line 2",
            "{{#if}} is never closed (no {{/if}})",
        ),
        (
            "<p>{{#if Location.City}}Hi{{/each}}</p>",
            "x HtmlPart line 1",
            "{{/each}} closes {{#if}} of line 1",
        ),
        ("<p>Hi</p>\n{{/if}}", "x HtmlPart line 2", "{{/if}} without an open block"),
        (
            "<p>Hi {{User.UserAttributes.FirstName</p>",
            "x HtmlPart line 1",
            "{{ is never closed (no }})",
        ),
    ],
)
def test_malformed_handlebars_is_a_located_problem_and_the_template_is_not_converted(
    html: str, where: str, detail: str
) -> None:
    result = convert([("x.json", email("x", Subject="Hello", HtmlPart=html))], MAPPING)

    assert result.folders == {}
    (problem,) = [p for p in result.problems if p.kind == MALFORMED]
    assert problem.where == where
    assert problem.detail == f"{detail}; the template is not converted"


# ---------------------------------------------------------------------------------- rules
def render_sms(body: str, context: dict[str, Any], **fields: Any) -> tuple[str, TemplateImport]:
    """A one-part SMS template converted and rendered in the product's environment."""
    result = convert([("t.json", sms("t", body, **fields))], MAPPING)
    code = result.folders["campaign_t"]["sms.txt.j2"]
    env = Renderer(ROOT / "templates", "en", BUSINESS).environment
    return env.from_string(code).render({"first_name": "Ann", "attributes": {}, **context}), result


def test_jinja_looking_pinpoint_text_prints_as_text() -> None:
    text, result = render_sms(
        r"Code {%SAVE%} {#1 \{{not a variable}} {{User.UserAttributes.FirstName}}{ {{raw}}",
        {},
    )

    assert "{% raw %}" not in result.folders["campaign_t"]["sms.txt.j2"]
    assert text == "Code {%SAVE%} {#1 {{not a variable}} Ann{ "


@pytest.mark.parametrize(
    ("attributes", "shown"),
    [
        ({"city": "Delft"}, "in Delft!"),
        ({"city": ""}, "near you!"),
        ({}, "near you!"),
    ],
)
def test_handlebars_truthiness_is_kept_when_an_attribute_is_empty_or_missing(
    attributes: dict[str, str], shown: str
) -> None:
    body = "{{#if Location.City}}in {{Location.City}}{{else}}near you{{/if}}!"

    text, result = render_sms(body, {"attributes": attributes})

    assert 'attributes.get("city", "")' in result.folders["campaign_t"]["sms.txt.j2"]
    assert text.strip() == shown


def test_a_default_substitution_is_the_attributes_default_in_every_use() -> None:
    body = "{{#if Attributes.Tier}}{{upper Attributes.Tier.[0]}}{{/if}} {{Location.City}}"
    defaults = json.dumps({"Attributes.Tier.[0]": "silver", "Location.City": "Leiden"})
    mapping = Mapping(attributes={"Location.City": "city", "Attributes.Tier": "tier"})

    result = convert([("t.json", sms("t", body, DefaultSubstitutions=defaults))], mapping)
    code = result.folders["campaign_t"]["sms.txt.j2"]
    env = Renderer(ROOT / "templates", "en", BUSINESS).environment

    assert env.from_string(code).render(first_name="A", attributes={}).strip() == "SILVER Leiden"
    assert (
        env.from_string(code)
        .render(first_name="A", attributes={"tier": "gold", "city": "Ede"})
        .strip()
        == "GOLD Ede"
    )


def test_a_variable_with_no_equivalent_is_its_default_and_decides_its_tests_now() -> None:
    body = "{{#if Demographic.Platform}}App{{else}}Web{{/if}} {{ChannelType}} {{Address}}"
    defaults = json.dumps({"Address": "you"})

    text, result = render_sms(body, {}, DefaultSubstitutions=defaults)

    assert text.strip() == "Web  you"
    assert "{% if" not in result.folders["campaign_t"]["sms.txt.j2"]
    assert problems(result, NO_EQUIVALENT) == [
        "t Body line 1: {{Demographic.Platform}}: no mapped attribute holds it (add it to the "
        "mapping's attributes); shown as nothing",
        "t Body line 1: {{ChannelType}}: the product's customers have no such field; "
        "shown as nothing",
        "t Body line 1: {{Address}}: the product's customers have no such field; "
        "shown as its default 'you'",
    ]


def test_each_walks_the_list_attribute_with_index_and_else() -> None:
    body = (
        "{{#each Attributes.Services}}{{@index}}:{{this}}{{#if @last}}.{{else}}, {{/if}}"
        "{{else}}nothing{{/each}}"
    )
    mapping = Mapping(attributes={"Attributes.Services": "services"})
    result = convert([("t.json", sms("t", body))], mapping)
    template = Renderer(ROOT / "templates", "en", BUSINESS).environment.from_string(
        result.folders["campaign_t"]["sms.txt.j2"]
    )

    assert (
        template.render(attributes={"services": "Ironing, Dry cleaning"}).strip()
        == "0:Ironing, 1:Dry cleaning."
    )
    assert template.render(attributes={}).strip() == "nothing"


def test_comparisons_and_logic_in_blocks_inline_and_sub_expressions() -> None:
    body = (
        '{{#eq Location.City "Delft"}}D'
        '{{else if (and Location.City (not (eq Location.City "Ede")))}}O{{else}}-{{/eq}}'
        '|{{eq Location.City "Delft" yes="y" no="n"}}|{{#gt Attributes.Age.[0] "17"}}adult{{/gt}}'
    )
    mapping = Mapping(attributes={"Location.City": "city", "Attributes.Age": "age"})
    result = convert([("t.json", sms("t", body))], mapping)
    template = Renderer(ROOT / "templates", "en", BUSINESS).environment.from_string(
        result.folders["campaign_t"]["sms.txt.j2"]
    )

    assert template.render(attributes={"city": "Delft", "age": "22"}).strip() == "D|y|adult"
    assert template.render(attributes={"city": "Gouda", "age": "9"}).strip() == "O|n|"
    assert template.render(attributes={"city": "Ede"}).strip() == "-|n|"
    assert any("gt compares numbers" in p for p in problems(result, CARRIED_DIFFERENTLY))


def test_string_helpers_match_pinpoints() -> None:
    body = (
        "{{capitalizeFirst (lower Attributes.Name.[0])}} {{abbreviate Attributes.Name.[0] 6}} "
        '{{capitalize Attributes.Street fully=true}} {{replace Attributes.Street " " "_"}} '
        '{{substring Attributes.Street 0 4}} {{join Attributes.Tags " / "}} {{{Attributes.Name}}}'
    )
    mapping = Mapping(
        attributes={
            "Attributes.Name": "name",
            "Attributes.Street": "street",
            "Attributes.Tags": "tags",
        }
    )
    result = convert([("t.json", sms("t", body))], mapping)
    template = Renderer(ROOT / "templates", "en", BUSINESS).environment.from_string(
        result.folders["campaign_t"]["sms.txt.j2"]
    )

    text = template.render(
        attributes={"name": "ALEJANDRO", "street": "oude GRACHT", "tags": "a, b"}
    )

    assert text.strip() == "Alejandro ALE... Oude Gracht oude_GRACHT oude a / b ALEJANDRO"
    assert not problems(result, CARRIED_DIFFERENTLY)


def test_helpers_with_no_equivalent_are_reported_and_print_nothing() -> None:
    text, result = render_sms('Sent {{now "medium" tz=Europe/Amsterdam}}{{uuid}}{{> footer}}.', {})

    assert text.strip() == "Sent ."
    reported = problems(result, NO_EQUIVALENT)
    assert any(
        p.startswith(
            't Body line 1: {{now "medium" tz=Europe/Amsterdam}}: campaign templates are given '
            "no send time"
        )
        for p in reported
    )
    assert any(p.startswith("t Body line 1: {{uuid}}: uuid has no equivalent") for p in reported)
    assert any(p.startswith("t Body line 1: partial {{>footer}} is left out") for p in reported)


def test_whitespace_follows_handlebars_standalone_lines_and_tildes() -> None:
    body = (
        "A\n  {{#if Location.City}}\n  B {{Location.City}}\n  {{/if}}\n\n"
        "C {{~ Location.City ~}} D\n{{#if Location.City}}E{{/if}}\nF"
    )
    text, _ = render_sms(body, {"attributes": {"city": "X"}})

    # The renderer collapses an SMS's whitespace; render the template itself to see lines.
    assert text == "A\n  B X\n\nCXD\nE\nF"
