"""`lifecycle send-test` against moto: one real-shaped send, marked as a test."""

from __future__ import annotations

import pytest

from lifecycle.cli import main
from tests.conftest import ROOT, Aws

TEMPLATES = str(ROOT / "templates")


def test_email_is_rendered_in_the_locale_and_marked_as_a_test(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "send-test",
            "welcome",
            "--to",
            "me@example.com",
            "--locale",
            "nl-NL",
            "--sender",
            "hello@freshfold.example",
            "--templates",
            TEMPLATES,
        ]
    )

    assert code == 0
    (sent,) = aws.emails()
    assert sent.to == "me@example.com"
    assert sent.subject == "[TEST] Welkom bij Fresh Fold Laundry, Sanne!"
    assert sent.mime["X-Lifecycle-Test"] == "true"
    assert "Hoi Sanne, welkom!" in sent.part("plain")
    assert "sent welcome (nl) by email" in capsys.readouterr().out


def test_sms_is_marked_as_a_test(aws: Aws) -> None:
    code = main(["send-test", "welcome", "--to", "+31612345678", "--templates", TEMPLATES])

    assert code == 0
    ((phone, text),) = aws.sms()
    assert phone == "+31612345678"
    assert text.startswith("[TEST] Welcome to Fresh Fold Laundry, Ann!")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["send-test", "nosuch", "--to", "me@example.com"], "unknown message 'nosuch'"),
        (["send-test", "welcome", "--to", "0612345678"], "not an E.164 phone number"),
        (["send-test", "welcome", "--to", "me@@example.com"], "--to:"),
        (["send-test", "welcome", "--to", "me@example.com"], "--sender"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    aws: Aws, capsys: pytest.CaptureFixture[str], args: list[str], complaint: str
) -> None:
    code = main([*args, "--templates", TEMPLATES])

    assert code == 2
    assert complaint in capsys.readouterr().err
    assert aws.emails() == []
    assert aws.sms() == []
