"""The CloudWatch dashboard shows what the stack has and what the code emits.

The body is resolved with placeholder values (each resource's logical id stands for its name)
and parsed as CloudWatch would parse it. What it must show is found from the template and the
code, never from a copy of the dashboard: a new failure queue, function or sending function
fails here until it has its line.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from lifecycle.local.stack import load_template
from lifecycle.platform import kit
from tests.conftest import ROOT

TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")
QUEUES = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::SQS::Queue")
REGION = "eu-west-1"

_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _target(value: Any) -> str:
    """The logical id a Sub variable's value names (through a condition's first branch)."""
    if isinstance(value, dict) and "Fn::If" in value:
        return _target(value["Fn::If"][1])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        assert attribute == "QueueName", value
        return str(logical)
    raise AssertionError(f"a dashboard variable must name a resource: {value!r}")


def _resolved(sub: Any) -> str:
    """The `!Sub` body with every resource named by its logical id, the region by REGION."""
    text, variables = (sub, {}) if isinstance(sub, str) else sub
    assert isinstance(text, str)

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return _target(variables[name])
        if name == "AWS::Region":
            return REGION
        if name.startswith("AWS::"):
            return name.replace("::", "-")
        logical, _, attribute = name.partition(".")
        assert logical in RESOURCES, f"the dashboard names {name}, which is not in the template"
        # A resource with a condition may not exist: it goes through a variable with Fn::If.
        assert "Condition" not in RESOURCES[logical], f"{logical} is conditional"
        if attribute:
            assert (RESOURCES[logical]["Type"], attribute) == ("AWS::SQS::Queue", "QueueName")
        return logical

    return _VARIABLE.sub(placeholder, text)


DASHBOARDS = [v for v in RESOURCES.values() if v["Type"] == "AWS::CloudWatch::Dashboard"]
(DASHBOARD,) = DASHBOARDS
BODY: dict[str, Any] = json.loads(_resolved(DASHBOARD["Properties"]["DashboardBody"]["Fn::Sub"]))
WIDGETS: list[dict[str, Any]] = BODY["widgets"]
METRIC_WIDGETS = [w for w in WIDGETS if w["type"] == "metric"]


def _lines(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """Each metric line of a widget as (namespace, name, dimensions), CloudWatch's shorthand
    ("..." for the line above's values) expanded."""
    lines: list[tuple[str, str, dict[str, str]]] = []
    previous: list[Any] = []
    for row in widget["properties"]["metrics"]:
        values = [v for v in row if not isinstance(v, dict)]
        values = [previous[i] if v in ("...", ".") else v for i, v in enumerate(values)]
        previous = values
        namespace, name, *pairs = values
        lines.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return lines


ALL_LINES = [line for w in METRIC_WIDGETS for line in _lines(w)]


def _widgets_showing(namespace: str, metric: str) -> list[dict[str, Any]]:
    return [w for w in METRIC_WIDGETS if any(line[:2] == (namespace, metric) for line in _lines(w))]


def _shown(namespace: str, metric: str, dimension: str) -> set[str]:
    return {
        dims[dimension]
        for w in _widgets_showing(namespace, metric)
        for ns, name, dims in _lines(w)
        if (ns, name) == (namespace, metric)
    }


# ------------------------------------------------------------ what the code emits
_METRIC_NAME = re.compile(r"[A-Z][A-Za-z]+")


def _emitted_names() -> set[str]:
    """Every metric name the code counts with a literal: `count("X")`, `_count("X")` (the
    dispatcher's and a stage's counter), `add_metric(name="X")` and `metric="X"` (a plan's
    step counted when it runs). Names made at run time (`Skipped{hold}`) are not literal:
    the dashboard shows only the literal ones."""
    names: set[str] = set()
    for path in (ROOT / "functions" / "lifecycle").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else None
            called = node.func.id if isinstance(node.func, ast.Name) else called
            candidates: list[ast.expr] = []
            if called in ("count", "_count") and node.args:
                candidates.append(node.args[0])
            candidates += [k.value for k in node.keywords if k.arg == "metric"]
            if called == "add_metric":
                candidates += [k.value for k in node.keywords if k.arg == "name"]
            names |= {
                c.value
                for c in candidates
                if isinstance(c, ast.Constant)
                and isinstance(c.value, str)
                and _METRIC_NAME.fullmatch(c.value)
            }
    return names


EMITTED = _emitted_names()


def _unit(function: str) -> Any:
    handler = RESOURCES[function]["Properties"]["Handler"]
    return importlib.import_module(handler.rpartition(".")[0]).UNIT


def _emission(function: str) -> tuple[str, str, str]:
    """(namespace, dimension name, dimension value) of the function's metrics, as its kit's
    Powertools Metrics serialises them."""
    metrics = kit._metrics(_unit(function))
    metrics.clear_metrics()
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    try:
        emitted = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
    (directive,) = emitted["_aws"]["CloudWatchMetrics"]
    ((dimension,),) = directive["Dimensions"]
    return directive["Namespace"], dimension, emitted[dimension]


EMISSIONS = {f: _emission(f) for f in FUNCTIONS}
(NAMESPACE,) = {namespace for namespace, _, _ in EMISSIONS.values()}
(DIMENSION,) = {dimension for _, dimension, _ in EMISSIONS.values()}
SERVICES = {service for _, _, service in EMISSIONS.values()}


def _sending_functions() -> list[str]:
    """Functions whose role may send mail: each counts what it sent, skipped and failed."""
    sending = []
    for name in FUNCTIONS:
        role = RESOURCES[RESOURCES[name]["Properties"]["Role"]["Fn::GetAtt"][0]]
        if {"Ref": "SendMessagesPolicy"} in role["Properties"].get("ManagedPolicyArns", []):
            sending.append(name)
    return sending


SENDING = _sending_functions()


def _work_queues() -> set[str]:
    return {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]
        for name in FUNCTIONS
        for event in RESOURCES[name]["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    }


WORK_QUEUES = _work_queues()
# A queue no function reads is where something parks what ran out of retries.
FAILURE_QUEUES = sorted(set(QUEUES) - WORK_QUEUES)


def _dead_letter_targets(node: Any) -> set[str]:
    """Queues the template names as a dead-letter or on-failure destination anywhere."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("deadLetterTargetArn", "TargetArn", "Destination", "Arn") and isinstance(
                value, dict
            ):
                logical = value.get("Fn::GetAtt", [None])[0]
                if logical in QUEUES:
                    found.add(logical)
            found |= _dead_letter_targets(value)
    elif isinstance(node, list):
        for value in node:
            found |= _dead_letter_targets(value)
    return found


# ------------------------------------------------------------------------- tests
def test_the_body_is_a_grid_of_widgets_with_text_headers() -> None:
    assert DASHBOARD["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-lifecycle"}
    assert sum(w["type"] == "text" for w in WIDGETS) >= 5
    for widget in WIDGETS:
        assert widget["x"] >= 0
        assert widget["x"] + widget["width"] <= 24
    for widget in METRIC_WIDGETS:
        assert widget["properties"]["region"] == REGION
        assert widget["properties"]["title"]


def test_the_code_is_found_to_emit_the_messages_metrics() -> None:
    assert {"MessagesSent", "MessagesSkipped", "MessagesFailed", "RecordsRejected"} <= EMITTED
    assert NAMESPACE == "Lifecycle"
    assert "SendMessagesPolicy" in RESOURCES
    assert "WelcomeFunction" in SENDING


def test_every_product_metric_shown_is_one_the_code_emits() -> None:
    shown = [line for line in ALL_LINES if line[0] == NAMESPACE]
    assert shown
    for _, name, dimensions in shown:
        assert name in EMITTED, f"the dashboard shows {name}, which no code counts"
        assert list(dimensions) == [DIMENSION]
        assert dimensions[DIMENSION] in SERVICES, f"no function is service {dimensions}"


@pytest.mark.parametrize("metric", ["MessagesSent", "MessagesSkipped", "MessagesFailed"])
def test_every_function_that_sends_shows_what_it_sent_skipped_and_failed(metric: str) -> None:
    assert _shown(NAMESPACE, metric, DIMENSION) >= {EMISSIONS[f][2] for f in SENDING}


def test_every_aws_line_names_a_resource_of_the_stack() -> None:
    for namespace, _, dimensions in ALL_LINES:
        if namespace == "AWS/Lambda":
            assert dimensions["FunctionName"] in FUNCTIONS
        elif namespace == "AWS/SQS":
            assert dimensions["QueueName"] in QUEUES
        elif namespace == "AWS/SES":
            assert dimensions == {}  # the account's reputation, as AWS judges it
        else:
            assert namespace == NAMESPACE


def test_failure_queues_are_found() -> None:
    assert _dead_letter_targets(RESOURCES) <= set(FAILURE_QUEUES)
    assert {"WelcomeFailureQueue", "CampaignSendDeadLetterQueue"} <= set(FAILURE_QUEUES)
    assert "CampaignSendQueue" in WORK_QUEUES


@pytest.mark.parametrize("queue", FAILURE_QUEUES)
def test_every_failure_queue_shows_its_messages(queue: str) -> None:
    assert queue in _shown("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")


@pytest.mark.parametrize("queue", sorted(WORK_QUEUES))
@pytest.mark.parametrize(
    "metric", ["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"]
)
def test_every_work_queue_shows_its_depth_and_age(queue: str, metric: str) -> None:
    assert queue in _shown("AWS/SQS", metric, "QueueName")


def test_failure_queues_share_no_widget_with_work_queues() -> None:
    # a work queue's backlog is normal; a failure queue's one message is not: apart, so
    # neither scale hides the other
    for widget in _widgets_showing("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
        queues = {d["QueueName"] for ns, _, d in _lines(widget) if ns == "AWS/SQS"}
        assert queues <= WORK_QUEUES or queues <= set(FAILURE_QUEUES)


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_shows_its_errors_and_throttles(metric: str) -> None:
    (widget,) = _widgets_showing("AWS/Lambda", metric)
    assert {d["FunctionName"] for _, _, d in _lines(widget)} == set(FUNCTIONS)


def test_campaign_progress_shows_the_senders_counts_and_the_send_queue() -> None:
    (widget,) = [w for w in METRIC_WIDGETS if "campaign" in w["properties"]["title"].lower()]
    lines = _lines(widget)
    sender = EMISSIONS["CampaignSenderFunction"][2]
    counted = {name for ns, name, d in lines if ns == NAMESPACE and d[DIMENSION] == sender}
    assert {"MessagesSent", "MessagesFailed", "CampaignRecipientsBack"} <= counted
    assert (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": "CampaignSendQueue"},
    ) in (lines)


# AWS reviews an SES account at the first rate (warning) and may pause its sending at the
# second (at risk): SES Developer Guide, reputation metrics. Rates from 0 to 1.
SES_LINES = {
    "Reputation.BounceRate": ("SesBounceRateAlarm", 0.05, 0.10),
    "Reputation.ComplaintRate": ("SesComplaintRateAlarm", 0.001, 0.005),
}


@pytest.mark.parametrize("metric", sorted(SES_LINES))
def test_ses_reputation_is_drawn_against_awss_lines_and_the_alarm(metric: str) -> None:
    alarm, warning, at_risk = SES_LINES[metric]
    (widget,) = _widgets_showing("AWS/SES", metric)
    annotations = widget["properties"]["annotations"]["horizontal"]
    values = sorted(a["value"] for a in annotations)
    threshold = RESOURCES[alarm]["Properties"]["Threshold"]
    assert values == pytest.approx(sorted([warning, at_risk, threshold]))
    assert all(a["label"] for a in annotations)
    assert widget["properties"]["stat"] == RESOURCES[alarm]["Properties"]["Statistic"]


def test_the_stack_outputs_the_dashboards_console_address() -> None:
    url = TEMPLATE["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    logical = next(k for k, v in RESOURCES.items() if v is DASHBOARD)
    assert url.startswith("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/")
    assert url.endswith("#dashboards/dashboard/${" + logical + "}")


def test_the_readme_says_where_the_dashboard_is() -> None:
    readme = Path(ROOT / "README.md").read_text(encoding="utf-8")
    assert "### The dashboard" in readme
    assert "DashboardUrl" in readme
