"""The campaign functions' sample events in events/ are what their models read."""

from __future__ import annotations

import json

from lifecycle.stages.announcements.planner import Step, Trigger
from lifecycle.stages.announcements.sender import Page
from tests.conftest import load_event


def test_the_schedules_payloads_are_triggers() -> None:
    start = Trigger.model_validate(load_event("schedule-campaign-start.json"))
    assert (start.campaign_id, start.action, start.instant) == ("eco-wash-launch", "start", None)
    release = Trigger.model_validate(load_event("schedule-campaign-release.json"))
    assert release.action == "release"
    assert release.instant is not None


def test_the_queues_messages_are_a_plan_step_and_a_page() -> None:
    (step,) = load_event("sqs-campaign-plan-step.json")["Records"]
    assert Step.model_validate(json.loads(step["body"])).segments == 4
    (page,) = load_event("sqs-campaign-page.json")["Records"]
    assert Page.model_validate(json.loads(page["body"])).customers == ["c-1001", "c-1003", "c-1004"]
