from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lifecycle.local.stack import LocalStack
from lifecycle.messaging.catalog import CATALOG
from lifecycle.platform.composition import check_templates
from lifecycle.platform.settings import CoreSettings, SettingsError
from tests.conftest import PARAMETERS, ROOT

SPECS = tuple(CATALOG.values())


def test_shipped_templates_are_complete() -> None:
    check_templates(ROOT / "templates", SPECS)


def test_cold_start_fails_clearly_without_the_templates(tmp_path: Path) -> None:
    # /opt without the templates layer holds other layers, but no templates
    (tmp_path / "python").mkdir()

    with pytest.raises(SettingsError) as raised:
        check_templates(tmp_path, SPECS)

    assert "_layouts/email.html.j2" in str(raised.value)
    assert "welcome/sms.txt.j2" in str(raised.value)


def test_cold_start_names_a_renamed_part(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "t")
    (tmp_path / "t" / "welcome" / "email.txt.j2").rename(tmp_path / "t" / "welcome" / "text.j2")

    with pytest.raises(SettingsError, match=r"welcome/email\.txt\.j2"):
        check_templates(tmp_path / "t", SPECS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2/7", (("email", 2, 7), ("sms", 2, 7))), ("off", (("sms", 2, 7),)), (" 3/14 ", None)],
)
def test_the_marketing_cap_is_read_per_channel(
    value: str, expected: tuple[tuple[str, int, int], ...] | None
) -> None:
    settings = CoreSettings.from_env({**_BASE_ENV, "MARKETING_CAP_EMAIL": value})

    if expected is None:
        expected = (("email", 3, 14), ("sms", 2, 7))
    assert settings.marketing_caps == expected


@pytest.mark.parametrize("value", ["2", "two/7", "0/7", "2/0"])
def test_a_marketing_cap_that_is_not_messages_per_days_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="MARKETING_CAP_SMS must be MESSAGES/DAYS"):
        CoreSettings.from_env({**_BASE_ENV, "MARKETING_CAP_SMS": value})


# What Lambda gives the welcome function, from the template.
_BASE_ENV = LocalStack.from_template(PARAMETERS).function("WelcomeFunction").environment
