from __future__ import annotations

import shutil
from datetime import time, timedelta
from pathlib import Path

import pytest

from lifecycle.local.stack import LocalStack
from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.quiet import QuietHours
from lifecycle.platform.composition import check_deferrals, check_templates
from lifecycle.platform.settings import CoreSettings, SettingsError
from lifecycle.stages.feedback.messages import FEEDBACK_REQUEST
from lifecycle.stages.welcome.messages import WELCOME
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


def test_quiet_hours_default_to_nine_to_eight_for_sms_with_a_twelve_hour_limit() -> None:
    # (the suite's stack has them off; the template's default is on)
    settings = CoreSettings.from_env({**_BASE_ENV, "QUIET_HOURS": ""}).deferrals

    assert settings.quiet_hours == QuietHours(time(21), time(8), marketing_email=False)
    assert settings.quiet_max_delay == timedelta(hours=12)
    assert settings.cap_max_delay == timedelta(hours=72)
    assert settings.missing() == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"QUIET_HOURS": "off"}, None),
        ({"QUIET_HOURS": "OFF"}, None),
        ({"QUIET_HOURS": " 22:30-07:00 "}, QuietHours(time(22, 30), time(7))),
        (
            {"QUIET_HOURS": "21:00-08:00", "QUIET_HOURS_MARKETING_EMAIL": "true"},
            QuietHours(time(21), time(8), marketing_email=True),
        ),
    ],
)
def test_quiet_hours_are_read_from_the_environment(
    env: dict[str, str], expected: QuietHours | None
) -> None:
    assert CoreSettings.from_env({**_BASE_ENV, **env}).deferrals.quiet_hours == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QUIET_HOURS": "21-8"}, "QUIET_HOURS must be HH:MM-HH:MM such as 21:00-08:00, or off"),
        ({"QUIET_HOURS": "24:00-08:00"}, "QUIET_HOURS must be HH:MM-HH:MM"),
        ({"QUIET_HOURS": "08:00-08:00"}, "QUIET_HOURS must start and end at different times"),
        ({"QUIET_HOURS_MARKETING_EMAIL": "yes"}, "QUIET_HOURS_MARKETING_EMAIL must be true or"),
        ({"QUIET_HOURS_MAX_DELAY_HOURS": "0"}, "QUIET_HOURS_MAX_DELAY_HOURS must be positive"),
        ({"MARKETING_CAP_MAX_DELAY_HOURS": "3d"}, "MARKETING_CAP_MAX_DELAY_HOURS must be a whole"),
    ],
)
def test_quiet_hours_settings_that_make_no_sense_are_refused_by_name(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        CoreSettings.from_env({**_BASE_ENV, **env})


def test_a_function_whose_messages_may_wait_does_not_start_without_somewhere_to_wait() -> None:
    # given the welcome function's environment without the deferral schedule group
    env = {k: v for k, v in _BASE_ENV.items() if k != "DEFERRAL_SCHEDULE_GROUP"}
    core = CoreSettings.from_env(env)

    # then its cold start names what is missing (its welcome SMS may be deferred)
    with pytest.raises(SettingsError, match=r"welcome may defer messages \(welcome\) and needs "):
        check_deferrals(core, "welcome", (WELCOME,))
    # while a function that only sends service email starts without it
    check_deferrals(core, "feedback", (FEEDBACK_REQUEST,))
