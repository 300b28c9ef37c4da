"""`lifecycle import pinpoint`, campaigns and journeys: the sample Pinpoint campaign becomes a
campaign file that validates, its quiet time and limits become the stack's contact-policy
settings, the journey is reported with the stage that covers it, and bad input is a problem."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifecycle.authoring.campaigns import lint_campaigns
from lifecycle.authoring.lint import ERROR
from lifecycle.local.stack import load_template
from lifecycle.pinpoint import settings
from lifecycle.pinpoint.mapping import Mapping
from lifecycle.pinpoint.report import Outcome
from lifecycle.platform.settings import CoreSettings
from lifecycle.stages.announcements import campaign as model
from tests.conftest import ROOT

SAMPLES = ROOT / "events" / "pinpoint"
CAMPAIGN = "campaigns/spring-offer.json"
JOURNEY = "journeys/welcome-series.json"
SEGMENT = "segments/amsterdam-utrecht.json"


def sample(name: str) -> tuple[str, dict[str, Any]]:
    path = SAMPLES / name
    return path.name, json.loads(path.read_text("utf-8"))


def inner(name: str) -> dict[str, Any]:
    """A sample's object without its response wrapper, to change."""
    data = sample(name)[1]
    return copy.deepcopy(next(iter(data.values())))


def convert_sample(**kwargs: Any) -> settings.SettingsImport:
    return settings.convert([sample(CAMPAIGN)], [sample(JOURNEY)], [sample(SEGMENT)], **kwargs)


def reviewed(campaign_id: str, text: str) -> dict[str, Any]:
    """A written file as a marketer leaves it once reviewed: its placeholder link set (a
    file with the placeholder is refused, so it cannot be scheduled as it is)."""
    placeholder = settings.UNKNOWN_LINK.format(id=campaign_id)
    loaded: dict[str, Any] = yaml.safe_load(text.replace(placeholder, "https://example.com/x"))
    return loaded


def the_campaign(result: settings.SettingsImport) -> model.Campaign:
    (campaign_id, text), *_ = result.campaigns.items()
    return model.parse(reviewed(campaign_id, text), source=f"{campaign_id}.yaml")


def policy(result: settings.SettingsImport) -> dict[str, str]:
    return {setting.name: setting.value for setting in result.policy}


def problems(result: settings.SettingsImport, kind: str | None = None) -> list[str]:
    return [p.line() for p in result.problems if kind is None or p.kind == kind]


# ---------------------------------------------------------------------------------- campaigns


def test_the_sample_campaign_becomes_a_campaign_file_that_validates() -> None:
    # given the sample campaign (local time, an A/B test, a holdout) and its segment
    # when it is converted
    result = convert_sample()

    # then it is one campaign file, named from the campaign's name, that validates
    assert list(result.campaigns) == ["spring-offer-2026"]
    campaign = the_campaign(result)
    assert campaign.id == "spring-offer-2026"
    assert campaign.name == "Spring offer 2026"
    # with email first, as the treatments have email and SMS templates
    assert [str(c) for c in campaign.channels] == ["email"]
    # at 10:00 local time: 08:00 UTC at the schedule's starting offset UTC+02
    assert campaign.send.local
    assert str(campaign.send.date) == "2026-04-14"
    assert str(campaign.send.local_time) == "10:00:00"
    # the 10% holdout, and the two treatments of 45% each splitting the other 90% evenly
    assert campaign.holdout == 0.1
    assert [(v.name, v.share, v.template) for v in campaign.variants] == [
        ("A", 0.5, "campaign_spring_offer"),
        ("B", 0.5, "campaign_spring_offer_b"),
    ]
    assert campaign.message.template == "campaign_spring_offer"
    # and the segment's city and locale as its audience
    assert campaign.audience.attributes == {"city": ("Amsterdam", "Utrecht")}
    assert campaign.audience.locales == ("nl-NL", "en-GB")


def test_the_file_says_it_was_imported_and_what_to_review() -> None:
    # given the converted sample
    text = convert_sample().campaigns["spring-offer-2026"]

    # then its first line marks it as the import's, and its header lists what to check
    assert text.startswith(settings.MARKER)
    header = text.split("\nid: ", 1)[0]
    assert "# To review:" in header
    assert "message.link" in header


def test_an_sms_template_of_another_name_is_to_review() -> None:
    # given the campaign sending an SMS template beside its email one
    data = inner(CAMPAIGN)
    data["TemplateConfiguration"]["SMSTemplate"] = {"Name": "pickup-promo"}

    # when converted
    result = settings.convert([("spring-offer.json", data)], [], [sample(SEGMENT)])

    # then it sends both channels, and the file says to put the SMS copy in its folder
    text = result.campaigns["spring-offer-2026"]
    assert "channels:\n- email\n- sms" in text or "channels: [email, sms]" in text
    assert "campaign_pickup_promo" in text.split("\nid: ", 1)[0]
    assert policy(result)["MarketingCapSms"] == "1/1"


def test_without_a_website_the_link_never_resolves_and_is_to_review() -> None:
    # given no business website
    result = convert_sample()

    # then the link is under .invalid (never resolves), and reported to review
    text = result.campaigns["spring-offer-2026"]
    assert 'link: "https://set-the-campaign-link.invalid/spring-offer-2026"' in text
    assert any("message.link" in line for line in problems(result, settings.TO_REVIEW))
    # and the file is refused as it is, so it cannot be scheduled before someone sets it
    with pytest.raises(model.CampaignError, match="placeholder"):
        model.parse(yaml.safe_load(text))


def test_with_the_business_website_the_link_is_the_website() -> None:
    # given the business website
    result = convert_sample(website="https://freshfold.example/")

    # then that is the link, still to review
    assert the_campaign(result).message.link == "https://freshfold.example/"
    assert any("business website" in line for line in problems(result, settings.TO_REVIEW))


def test_a_campaign_at_one_instant_goes_at_its_start_time() -> None:
    # given the campaign without local-time sending
    campaign = inner(CAMPAIGN)
    campaign["Schedule"]["IsLocalTime"] = False

    # when it is converted
    result = settings.convert([("c.json", campaign)], [])

    # then it goes at StartTime, in UTC
    assert the_campaign(result).send.at is not None
    assert the_campaign(result).send.at.isoformat() == "2026-04-14T08:00:00+00:00"


def test_without_its_segment_the_audience_is_empty_and_to_write() -> None:
    # given the campaign without its segment's definition
    result = settings.convert([sample(CAMPAIGN)], [])

    # then the audience is everyone, and the marketer is told to write it
    audience = the_campaign(result).audience
    assert audience.attributes == {}
    assert audience.locales is None
    assert any(
        "audience" in line and "write its audience" in line
        for line in problems(result, settings.NOT_CARRIED)
    )


def test_what_the_segment_cannot_say_here_is_reported() -> None:
    # given the sample segment, which also keeps only the Netherlands
    result = convert_sample()

    # then the country is reported as not carried (the default mapping carries no country)
    assert any("Location.Country" in line for line in problems(result, settings.NOT_CARRIED))


def test_a_mapped_country_is_part_of_the_audience() -> None:
    # given a mapping that carries the endpoint's country as an attribute
    mapping = Mapping(attributes={"Location.City": "city", "Location.Country": "country"})

    # when the sample is converted with it
    result = convert_sample(mapping=mapping)

    # then the segment's country is an audience condition
    assert the_campaign(result).audience.attributes["country"] == ("NL",)


def test_a_third_treatment_splits_the_rest_by_its_percentages() -> None:
    # given three treatments of 30% each and a 10% holdout
    campaign = inner(CAMPAIGN)
    campaign["AdditionalTreatments"][0]["SizePercent"] = 30
    campaign["AdditionalTreatments"].append(
        {
            "Id": "c",
            "SizePercent": 30,
            "TreatmentName": "free pickup!",
            "TemplateConfiguration": {"EmailTemplate": {"Name": "Spring Offer C"}},
        }
    )

    # when it is converted
    campaign_file = the_campaign(settings.convert([("c.json", campaign)], []))

    # then each gets a third of those not held out, the shares adding up to 1
    assert [v.name for v in campaign_file.variants] == ["A", "B", "free-pickup"]
    assert [round(v.share, 4) for v in campaign_file.variants] == [0.3333] * 3
    assert campaign_file.variants[2].template == "campaign_spring_offer_c"


@pytest.mark.parametrize(
    ("frequency", "stage"),
    [("WEEKLY", "announcements"), ("EVENT", "order flow")],
)
def test_recurring_and_event_campaigns_point_at_a_stage_and_write_no_file(
    frequency: str, stage: str
) -> None:
    # given the campaign as a weekly one, or one sent on an order event
    campaign = inner(CAMPAIGN)
    campaign["Name"] = "Weekly promo" if frequency == "WEEKLY" else "Pickup booked"
    campaign["Schedule"]["Frequency"] = frequency
    campaign["Schedule"]["EventFilter"] = {
        "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["order.booked"]}},
        "FilterType": "ENDPOINT",
    }

    # when it is converted
    result = settings.convert([("c.json", campaign)], [])

    # then no file is written, and the report names the stage that covers its use
    assert result.campaigns == {}
    lines = problems(result, settings.NO_EQUIVALENT)
    assert any("Schedule.Frequency" in line and settings.STAGES[stage] in line for line in lines)
    # and its quiet time and caps are still carried
    assert policy(result)["QuietHours"] == "22:00-08:00"


# ---------------------------------------------------------------------------------- policy


def test_the_campaign_quiet_time_and_limits_become_policy_settings() -> None:
    # given the campaign alone
    result = settings.convert([sample(CAMPAIGN)], [], [sample(SEGMENT)])

    # then its quiet time, daily limit and rate are the stack's settings
    assert policy(result) == {
        "QuietHours": "22:00-08:00",
        "QuietHoursMarketingEmail": "true",  # Pinpoint's quiet time held email back too
        "MarketingCapEmail": "1/1",  # 1 a day per endpoint: 1 in any 1 day per customer
        "CampaignSendRate": "50",
    }
    setting = next(s for s in result.policy if s.name == "QuietHours")
    assert setting.variable == "QUIET_HOURS"
    assert setting.source == "spring-offer.json: Schedule.QuietTime (campaign 'Spring offer 2026')"
    # and what differs is said: Pinpoint dropped a message in quiet time, this product defers it
    assert "dropped" in setting.note
    assert "deferred" in setting.note
    cap = next(s for s in result.policy if s.name == "MarketingCapEmail")
    assert "every stage's marketing" in cap.note
    assert "up to 7 a week" in cap.note
    assert any("Limits.Total" in line for line in problems(result, settings.DIFFERS))
    assert any("MaximumDuration" in line for line in problems(result, settings.NO_EQUIVALENT))


def test_disagreeing_sources_propose_the_most_protective_value_and_say_so() -> None:
    # given the campaign (22:00-08:00, 1 a day) and the journey (21:00-08:00, 3 in 7 days)
    result = convert_sample()

    # then the longest quiet window and the fewest messages a day on average are proposed
    values = policy(result)
    assert values["QuietHours"] == "21:00-08:00"
    assert values["MarketingCapEmail"] == "3/7"
    assert values["MarketingCapSms"] == "3/7"
    # and each disagreement is reported with the values not taken
    differs = [p for p in result.problems if p.kind == settings.DIFFERS]
    quiet = next(p for p in differs if p.where == "QuietHours")
    assert "22:00-08:00" in quiet.detail
    assert any(p.where == "MarketingCapEmail" and "1/1" in p.detail for p in differs)


def test_a_long_quiet_window_raises_the_maximum_delay() -> None:
    # given a quiet time of 14 hours
    campaign = inner(CAMPAIGN)
    campaign["Schedule"]["QuietTime"] = {"Start": "19:00", "End": "09:00"}

    # then a message held at its start can wait to its end, an hour more for the clocks
    assert policy(settings.convert([("c.json", campaign)], []))["QuietHoursMaxDelayHours"] == "15"


def test_the_stack_takes_the_marketing_caps_as_parameters() -> None:
    # given the stack's template
    template = load_template()
    environment = template["Globals"]["Function"]["Environment"]["Variables"]

    for name, variable in (
        ("MarketingCapEmail", "MARKETING_CAP_EMAIL"),
        ("MarketingCapSms", "MARKETING_CAP_SMS"),
    ):
        parameter = template["Parameters"][name]
        # then the functions read the parameter, 2 in 7 days by default
        assert environment[variable] == {"Ref": name}
        assert parameter["Default"] == "2/7"
        # and what it allows is what the settings read
        for value, allowed in (
            ("2/7", True),
            ("off", True),
            ("1/1", True),
            ("0/7", False),
            ("2", False),
        ):
            assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is allowed
            if allowed:
                CoreSettings.from_env({**_core_environment(), variable: value})


def _core_environment() -> dict[str, str]:
    return {
        "CUSTOMERS_TABLE": "c",
        "ORDERS_TABLE": "o",
        "LEDGER_TABLE": "l",
        "SUPPRESSIONS_TABLE": "s",
        "PREFERENCES_TABLE": "p",
        "BUSINESS_NAME": "Fresh Fold",
        "BUSINESS_POSTAL_ADDRESS": "1 Main St",
        "SENDER_EMAIL": "hello@freshfold.example",
        "BUSINESS_WEBSITE": "https://freshfold.example",
    }


def test_every_policy_setting_names_a_stack_parameter() -> None:
    # given the stack's parameters
    parameters = load_template()["Parameters"]

    # then each setting the import proposes is one of them
    for setting in convert_sample().policy:
        assert setting.name in parameters


# ---------------------------------------------------------------------------------- journeys


def test_the_journey_is_reported_with_its_stages_steps_and_templates() -> None:
    # given the welcome series (an email, a wait, a split on an order, an email or an SMS)
    result = settings.convert([], [sample(JOURNEY)])

    # then it makes no campaign file
    assert result.campaigns == {}
    # and it is reported with the stages that cover it: welcome, and the order flow it asks about
    (journey,) = result.journeys
    assert journey.name == "Welcome series"
    assert journey.stages == ("welcome", "order flow")
    assert journey.steps == (
        "welcomeEmail: email spring-offer",
        "waitThreeDays: wait P3D",
        "orderedYet: yes/no split (yes: thanksEmail, no: pickupNudge)",
        "thanksEmail: email order-thanks",
        "pickupNudge: sms pickup-promo",
    )
    assert journey.templates == (
        ("email", "spring-offer", "campaign_spring_offer"),
        ("email", "order-thanks", "campaign_order_thanks"),
        ("sms", "pickup-promo", "campaign_pickup_promo"),
    )
    lines = problems(result, settings.NO_EQUIVALENT)
    flow = next(line for line in lines if line.startswith("welcome-series.json: Activities:"))
    assert settings.STAGES["welcome"] in flow
    assert "templates/campaign_order_thanks/" in flow
    assert any("(Wait)" in line for line in lines)


def test_the_journey_quiet_time_and_caps_are_carried() -> None:
    # given the welcome series alone
    result = settings.convert([], [sample(JOURNEY)])

    # then its quiet time and its cap across journeys (3 in 7 days) are the stack's settings
    assert policy(result) == {
        "QuietHours": "21:00-08:00",
        "QuietHoursMarketingEmail": "true",
        "MarketingCapEmail": "3/7",
        "MarketingCapSms": "3/7",
    }
    quiet = next(s for s in result.policy if s.name == "QuietHours")
    assert "WaitForQuietTime" in quiet.note  # it waited in Pinpoint too
    # and the daily cap the one cap per channel cannot also hold is reported
    assert any("Limits.DailyCap" in line for line in problems(result, settings.NOT_CARRIED))


# ---------------------------------------------------------------------------------- bad input


def _broken(change: str) -> dict[str, Any] | Any:
    campaign = inner(CAMPAIGN)
    if change == "no name":
        del campaign["Name"]
    elif change == "start time":
        campaign["Schedule"]["StartTime"] = "next Tuesday"
    elif change == "limits":
        campaign["Limits"] = "1 a day"
    elif change == "holdout":
        campaign["HoldoutPercent"] = 150
    elif change == "treatments":
        campaign["AdditionalTreatments"] = {"B": 45}
    elif change == "quiet time":
        campaign["Schedule"]["QuietTime"] = {"Start": "9pm", "End": "8am"}
    elif change == "segment id":
        campaign["SegmentId"] = 42
    elif change == "a list":
        return [campaign]
    elif change == "a wrapped string":
        return {"CampaignResponse": "Spring offer"}
    elif change == "a journey":
        return sample(JOURNEY)[1]
    return campaign


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        ("no name", "Name", "needs its Name"),
        ("start time", "Schedule.StartTime", "not an ISO 8601 time"),
        ("limits", "Limits", "expected an object"),
        ("holdout", "HoldoutPercent", "expected a percentage"),
        ("treatments", "AdditionalTreatments", "expected a list"),
        ("quiet time", "Schedule.QuietTime", "HH:MM"),
        ("segment id", "SegmentId", "expected text"),
        ("a list", "", "not a Campaign"),
        ("a wrapped string", "", "not a Campaign"),
        ("a journey", "", "JourneyResponse, not a CampaignResponse"),
    ],
)
def test_malformed_input_is_a_clear_problem(change: str, where: str, says: str) -> None:
    # given a campaign with something wrong
    data = _broken(change)

    # when it is converted, it does not raise
    result = settings.convert([("broken.json", data)], [("journey.json", "not a journey")])

    # then the problem names the file, the field and what is wrong
    bad = [p for p in result.problems if p.kind == settings.BAD_INPUT]
    expected = f"broken.json: {where}" if where else "broken.json"
    assert any(p.where == expected and says in p.detail for p in bad), [p.line() for p in bad]
    assert any(p.where == "journey.json" for p in bad)
    # and every campaign file it still writes validates
    for campaign_id, text in result.campaigns.items():
        model.parse(reviewed(campaign_id, text))


def test_a_broken_journey_activity_is_a_problem() -> None:
    # given a journey whose activity is not an object, and one of no known kind
    journey = inner(JOURNEY)
    journey["Activities"]["waitThreeDays"] = "three days"
    journey["Activities"]["orderedYet"] = {"Description": "?"}

    # when it is converted
    result = settings.convert([], [("j.json", journey)])

    # then both are named, and the rest of the journey is still reported
    lines = problems(result, settings.BAD_INPUT)
    assert "j.json: Activities.waitThreeDays: expected an object, got text" in lines
    assert any(line.startswith("j.json: Activities.orderedYet") for line in lines)
    assert result.journeys[0].steps[0] == "welcomeEmail: email spring-offer"


# ---------------------------------------------------------------------------------- writing


def test_write_is_new_then_unchanged_then_updated(tmp_path: Path) -> None:
    # given the converted sample and a campaigns folder
    folder = tmp_path / "campaigns"
    result = convert_sample()
    path = str(folder / "spring-offer-2026.yaml")

    # when it is written, then written again
    first = settings.write(result, folder, dry_run=False)
    again = settings.write(result, folder, dry_run=False)

    # then the file is new, then unchanged
    assert first == {path: Outcome.NEW}
    assert again == {path: Outcome.UNCHANGED}
    assert Path(path).read_text("utf-8") == result.campaigns["spring-offer-2026"]

    # when the campaign changes in Pinpoint and it is converted and written again
    campaign = inner(CAMPAIGN)
    campaign["HoldoutPercent"] = 20
    changed = settings.convert([("spring-offer.json", campaign)], [], [sample(SEGMENT)])

    # then the file is updated
    assert settings.write(changed, folder, dry_run=False) == {path: Outcome.UPDATED}
    assert "holdout: 0.2" in Path(path).read_text("utf-8")


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    # given a campaigns folder with another campaign in it
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "other.yaml").write_text("id: other\n", "utf-8")

    # when the sample is written as a dry run
    outcomes = settings.write(convert_sample(), folder, dry_run=True)

    # then it tells what writing would do, and writes nothing
    assert outcomes == {str(folder / "spring-offer-2026.yaml"): Outcome.NEW}
    assert sorted(p.name for p in folder.iterdir()) == ["other.yaml"]


def test_a_campaign_file_the_import_did_not_write_is_left_alone(tmp_path: Path) -> None:
    # given a hand-written campaign file of the same id
    folder = tmp_path / "campaigns"
    folder.mkdir()
    mine = folder / "spring-offer-2026.yaml"
    mine.write_text("# mine\nid: spring-offer-2026\n", "utf-8")
    result = convert_sample()

    # when the import writes
    outcomes = settings.write(result, folder, dry_run=False)

    # then the file is as it was, and the report says why
    assert outcomes == {str(mine): Outcome.KEPT}
    assert mine.read_text("utf-8") == "# mine\nid: spring-offer-2026\n"
    assert any(p.where == str(mine) for p in result.problems)


def test_a_campaign_file_edited_since_the_import_is_kept_and_an_untouched_one_updated(
    tmp_path: Path,
) -> None:
    # given the sample written, then its link reviewed and set by hand
    folder = tmp_path / "campaigns"
    settings.write(convert_sample(), folder, dry_run=False)
    path = folder / "spring-offer-2026.yaml"
    edited = path.read_text("utf-8").replace(
        "set-the-campaign-link.invalid/spring-offer-2026", "freshfold.example/spring"
    )
    path.write_text(edited, "utf-8")

    # when a newer export is imported (another link given)
    again = convert_sample(website="https://freshfold.example/other")
    outcomes = settings.write(again, folder, dry_run=False)

    # then the reviewed file is kept as it is, and the report says so
    assert outcomes == {str(path): Outcome.KEPT}
    assert path.read_text("utf-8") == edited
    assert any("edited since the import" in p.detail for p in again.problems)
    # and a file still as the import wrote it is updated
    path.unlink()
    settings.write(convert_sample(), folder, dry_run=False)
    assert settings.write(again, folder, dry_run=False) == {str(path): Outcome.UPDATED}


def test_the_written_file_passes_lint_once_its_templates_are_there(tmp_path: Path) -> None:
    # given the written sample, and its template folders as the template import would write
    # them (with the SMS copy in each variant's folder, as the report asks)
    result = convert_sample(website="https://freshfold.example/spring")
    campaigns = tmp_path / "campaigns"
    settings.write(result, campaigns, dry_run=False)
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    for folder in ("campaign_spring_offer", "campaign_spring_offer_b"):
        _template(templates / folder)

    # when it is linted
    findings = lint_campaigns([campaigns], templates)

    # then it passes
    assert [str(f) for f in findings if f.severity == ERROR] == []


def _template(folder: Path) -> None:
    folder.mkdir()
    parts = {
        "email.subject.j2": "Spring at {{ business.name }}: 20% off your first pickup",
        "email.html.j2": (
            "{% extends layout.html %}{% block content %}<p>Hi {{ first_name }}, "
            '<a href="{{ link }}">book a pickup</a>.</p>{% endblock %}'
        ),
        "email.txt.j2": (
            "{% extends layout.text %}{% block content %}Hi {{ first_name }}, book a pickup: "
            "{{ link }}{% endblock %}"
        ),
        "sms.txt.j2": "Spring: 20% off your first pickup, {{ first_name }}: {{ link }}",
        "sample.json": json.dumps(
            {
                "context": {
                    "first_name": "Ann",
                    "prospect": False,
                    "attributes": {},
                    "link": "https://freshfold.example/spring",
                    "details": {},
                }
            }
        ),
    }
    for name, text in parts.items():
        (folder / name).write_text(text, "utf-8")
