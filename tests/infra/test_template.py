"""infra/template.yaml stays true to the code, and keeps the house rules for infrastructure."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from lifecycle.local import packaging
from lifecycle.local.stack import LocalStack, load_template
from lifecycle.messaging.timing import DISPATCH_SECONDS, RESERVE_SECONDS, SEND_SECONDS
from lifecycle.platform import composition, kit
from lifecycle.platform.settings import CoreSettings, Env
from tests.conftest import PARAMETERS, ROOT

TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
TABLES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::DynamoDB::Table"}
ALARMS: dict[str, dict[str, Any]] = {
    k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"
}


def _stream_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, event["Properties"])
        for name, function in FUNCTIONS.items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    ]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_handler_named_in_the_template_exists(name: str) -> None:
    module, _, attribute = FUNCTIONS[name]["Properties"]["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_template_environment_satisfies_the_settings(name: str) -> None:
    # given the environment Lambda would get from the template (layer path mapped locally),
    # with every optional feature switched on
    params = {**PARAMETERS, "InboundSmsTopicArn": "arn:aws:sns:eu-west-1:1:replies"}
    spec = LocalStack.from_template(params).function(name)

    settings = CoreSettings.from_env(spec.environment)

    assert settings.customers_table == "CustomersTable"
    assert settings.templates_dir == ROOT / "templates"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_passes_its_cold_start_checks_with_the_templates_environment(
    name: str,
) -> None:
    # given the function's unit (its stage, its messages, its settings) and its environment
    params = {**PARAMETERS, "InboundSmsTopicArn": "arn:aws:sns:eu-west-1:1:replies"}
    spec = LocalStack.from_template(params).function(name)
    module = importlib.import_module(spec.handler.rpartition(".")[0])
    unit = module.UNIT
    core = CoreSettings.from_env(spec.environment)

    # then what its cold start checks holds: templates for its messages, link configuration
    # for its topic email, somewhere to defer what may wait, and its own settings
    composition.check_templates(core.templates_dir, unit.specs)
    composition.check_links(core, unit.service, unit.sends)
    composition.check_deferrals(core, unit.service, unit.sends)
    unit.settings(Env(spec.environment))


def test_welcome_listens_to_customer_inserts_only() -> None:
    events = FUNCTIONS["WelcomeFunction"]["Properties"]["Events"]
    (event,) = events.values()
    props = event["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["CustomersTable", "StreamArn"]}
    patterns = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert patterns == [{"eventName": ["INSERT"]}]


@pytest.mark.parametrize(("function", "props"), _stream_events())
def test_stream_sources_fail_safely(function: str, props: dict[str, Any]) -> None:
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 < props["MaximumRetryAttempts"] <= 50  # bounded: never retried for a whole day
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 86400
    queue = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue"
    assert _has_alarm(queue), f"failure queue {queue} of {function} has no alarm"


def test_each_function_has_its_own_role() -> None:
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in FUNCTIONS.values()]
    assert len(roles) == len(set(roles))
    for role in roles:
        assert RESOURCES[role]["Type"] == "AWS::IAM::Role"


MANAGED_POLICIES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::IAM::ManagedPolicy"}

# The shared permission sets each function's role attaches: what its code uses, and no more.
# A new function is added here with its role.
SHARED_POLICIES = {
    "TallyFunction": {"TracingPolicy"},
    "WelcomeFunction": {
        "TracingPolicy",
        "SendMessagesPolicy",
        "SendSmsPolicy",
        "DeferMessagesPolicy",
    },
    "OrdersFunction": {
        "TracingPolicy",
        "SendMessagesPolicy",
        "SendSmsPolicy",
        "ReadCustomersPolicy",
        "DeferMessagesPolicy",
    },
    "ReminderFunction": {
        "TracingPolicy",
        "SendMessagesPolicy",
        "SendSmsPolicy",
        "ReadCustomersPolicy",
        "DeferMessagesPolicy",
    },
    # Email only, with topics: opt-outs and signed links, no SMS. Nothing it sends is ever
    # deferred (a service email), so it may not create deferrals.
    "FeedbackFunction": {
        "TracingPolicy",
        "SendMessagesPolicy",
        "ReadCustomersPolicy",
        "ReadPreferencesPolicy",
        "LinkSigningKeyPolicy",
    },
    # The referral ask is marketing: quiet hours (when on for email) and the cap may defer it.
    "RatingFollowUpFunction": {
        "TracingPolicy",
        "SendMessagesPolicy",
        "ReadCustomersPolicy",
        "ReadPreferencesPolicy",
        "LinkSigningKeyPolicy",
        "DeferMessagesPolicy",
    },
    # Sends whatever was deferred (SMS, marketing email with its links), and defers again.
    "DeferredSendFunction": {
        "TracingPolicy",
        "SendMessagesPolicy",
        "SendSmsPolicy",
        "ReadCustomersPolicy",
        "ReadPreferencesPolicy",
        "LinkSigningKeyPolicy",
        "DeferMessagesPolicy",
    },
    # Web pages and feedback records: they send nothing.
    "RatingsFunction": {"TracingPolicy", "ReadCustomersPolicy", "LinkSigningKeyPolicy"},
    # The case page reads and answers cases only (no customer, no rating); the escalation
    # sweep signs the same staff links into its alert. Neither sends to customers.
    "CaseDeskFunction": {"TracingPolicy", "LinkSigningKeyPolicy"},
    "CaseEscalationFunction": {"TracingPolicy", "LinkSigningKeyPolicy"},
    # Shows suppressed addresses and STOPped numbers as receiving nothing; sends nothing.
    "PreferencesFunction": {
        "TracingPolicy",
        "ReadCustomersPolicy",
        "ReadPreferencesPolicy",
        "LinkSigningKeyPolicy",
        "ReadContactBlocksPolicy",
    },
    "SesFeedbackFunction": {"TracingPolicy", "ReadPreferencesPolicy"},
    # Profiles and stages: they read and write profiles, and send nothing.
    "ProfilesFunction": {"TracingPolicy", "ProfilesPolicy"},
    # The daily run reads the due index and hands out batches; its worker moves them and sends
    # the retention stage's marketing email (the cap and quiet hours may defer it).
    "DailyStagesFunction": {"TracingPolicy", "ReadDueIndexPolicy"},
    "DailyStagesWorkerFunction": {
        "TracingPolicy",
        "ProfilesPolicy",
        "SendMessagesPolicy",
        "ReadCustomersPolicy",
        "ReadPreferencesPolicy",
        "LinkSigningKeyPolicy",
        "DeferMessagesPolicy",
    },
    "SmsInboundFunction": {"TracingPolicy", "ReadPreferencesPolicy"},
    # The campaign planner reads the audience and writes only campaign items and queues; the
    # sender sends marketing email and SMS (quiet hours may defer it).
    "CampaignPlannerFunction": {"TracingPolicy", "ReadSendQuotaPolicy"},
    "CampaignSenderFunction": {
        "TracingPolicy",
        "SendMessagesPolicy",
        "SendSmsPolicy",
        "ReadCustomersPolicy",
        "ReadPreferencesPolicy",
        "LinkSigningKeyPolicy",
        "DeferMessagesPolicy",
    },
}

# Where AWS offers no resource to name: X-Ray, and SMS to phone numbers (and SNS's STOP list).
WILDCARD_ACTIONS = {
    "ses:GetSendQuota",  # an account's quota has no resource ARN
    "sns:Publish",
    "sns:CheckIfPhoneNumberIsOptedOut",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def _role(function: str) -> dict[str, Any]:
    return RESOURCES[FUNCTIONS[function]["Properties"]["Role"]["Fn::GetAtt"][0]]


def _attached(role: dict[str, Any]) -> set[str]:
    return {arn["Ref"] for arn in role["Properties"].get("ManagedPolicyArns", [])}


def _inline_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _managed_statements(policy: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = MANAGED_POLICIES[policy]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    return statements


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Each (action, resource) pair the statements allow; resources as their template JSON.
    Deny statements grant nothing (SendSmsPolicy's keeps SMS senders off topics)."""
    for statement in statements:
        assert statement["Effect"] in ("Allow", "Deny"), statement["Sid"]
        assert not {"NotAction", "NotResource", "Condition"} & set(statement), statement["Sid"]
    return {
        (action, json.dumps(resource, sort_keys=True))
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    }


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_roles_use_wildcards_only_where_aws_offers_nothing_narrower(name: str) -> None:
    # given everything the function's role allows: its inline policy and the shared ones
    role = _role(name)
    statements = _inline_statements(role)
    for policy in sorted(_attached(role)):
        statements += _managed_statements(policy)

    for statement in statements:
        actions = _listed(statement["Action"])
        if "*" in _listed(statement["Resource"]):
            assert set(actions) <= WILDCARD_ACTIONS, statement["Sid"]
        assert not any(a.endswith(":*") or a == "*" for a in actions), statement["Sid"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_role_attaches_the_shared_policies_its_function_needs_and_no_more(
    name: str,
) -> None:
    assert name in SHARED_POLICIES, f"{name}: list the shared policies its role needs"
    assert _attached(_role(name)) == SHARED_POLICIES[name]


def test_every_shared_policy_is_attached_by_some_function() -> None:
    attached = set().union(*(_attached(_role(name)) for name in FUNCTIONS))
    assert attached == set(MANAGED_POLICIES)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_traced_functions_may_send_traces(name: str) -> None:
    tracing = FUNCTIONS[name]["Properties"].get(
        "Tracing", TEMPLATE["Globals"]["Function"].get("Tracing")
    )
    assert ("TracingPolicy" in _attached(_role(name))) == (tracing == "Active")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_only_functions_given_the_link_key_may_read_it(name: str) -> None:
    environment = FUNCTIONS[name]["Properties"].get("Environment", {}).get("Variables", {})
    has_key = "LINK_SIGNING_SECRET" in environment
    assert ("LinkSigningKeyPolicy" in _attached(_role(name))) == has_key


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_inline_policies_grant_no_wildcard_resources(name: str) -> None:
    # X-Ray and SMS to phone numbers come from TracingPolicy and SendSmsPolicy, nowhere else.
    for statement in _inline_statements(_role(name)):
        assert "*" not in _listed(statement["Resource"]), statement["Sid"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_roles_attach_shared_permissions_instead_of_copying_them(name: str) -> None:
    role = _role(name)
    inline = _grants(_inline_statements(role))
    attached = set().union(*(_grants(_managed_statements(p)) for p in _attached(role)))

    assert not inline & attached, "granted inline and by an attached policy"
    for policy in sorted(MANAGED_POLICIES):
        for statement in _managed_statements(policy):
            if statement["Effect"] == "Deny":
                continue
            copied = _grants([statement]) <= inline
            assert not copied, f"inline copy of {policy} {statement['Sid']}: attach the policy"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_are_on_demand_recoverable_and_encrypted(name: str) -> None:
    props = TABLES[name]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert TABLES[name]["DeletionPolicy"] == "Retain"


def test_data_contract_tables_stream_both_images() -> None:
    for name in ("CustomersTable", "OrdersTable"):
        spec = TABLES[name]["Properties"]["StreamSpecification"]
        assert spec["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_ledger_expires_items() -> None:
    ttl = TABLES["LedgerTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


def test_runtime_is_python_313() -> None:
    assert TEMPLATE["Globals"]["Function"]["Runtime"] == "python3.13"


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ]", r.strip(), maxsplit=1)[0].lower() for r in requirements}


def _content_dir(logical_id: str) -> Path:
    return (ROOT / "infra" / RESOURCES[logical_id]["Properties"]["ContentUri"]).resolve()


def test_dependencies_layer_holds_the_project_dependencies() -> None:
    # boto3 ships with the runtime and Powertools with its public layer; the rest is the layer.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = _names(project["project"]["dependencies"]) - {"boto3", "aws-lambda-powertools"}
    requirements = _content_dir("DependenciesLayer") / "requirements.txt"
    lines = requirements.read_text(encoding="utf-8").splitlines()
    packaged = _names([line for line in lines if line.strip() and not line.startswith("#")])
    assert packaged == declared


def test_dependencies_layer_is_built_for_the_runtime() -> None:
    layer = RESOURCES["DependenciesLayer"]
    function_globals = TEMPLATE["Globals"]["Function"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleArchitectures"] == function_globals["Architectures"]
    assert layer["Properties"]["CompatibleRuntimes"] == [function_globals["Runtime"]]
    makefile = (_content_dir("DependenciesLayer") / "Makefile").read_text(encoding="utf-8")
    assert "build-DependenciesLayer:" in makefile
    for flag in (
        "--platform manylinux2014_aarch64",
        "--python-version 3.13",
        "--implementation cp",
        "--only-binary=:all:",
        "--invalidation-mode unchecked-hash",
    ):
        assert flag in makefile


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_ship_only_their_code(name: str) -> None:
    # Without the makefile build, sam would package the whole CodeUri: the local stack,
    # authoring tools and CLI too (functions/Makefile, lifecycle/local/packaging.py).
    assert FUNCTIONS[name]["Metadata"] == {"BuildMethod": "makefile"}
    code_uri = FUNCTIONS[name]["Properties"].get(
        "CodeUri", TEMPLATE["Globals"]["Function"]["CodeUri"]
    )
    code = (ROOT / "infra" / code_uri).resolve()
    assert re.search(r"^build-%:", (code / "Makefile").read_text(encoding="utf-8"), re.M)


def test_function_bytecode_is_for_the_template_runtime() -> None:
    major, minor = packaging.RUNTIME
    assert TEMPLATE["Globals"]["Function"]["Runtime"] == f"python{major}.{minor}"


def test_layers_in_the_order_lambda_unpacks_them() -> None:
    # Ours after Powertools': where both hold a package (its layer includes pydantic), the
    # dependencies layer's version is the one imported.
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [
        {"Ref": "PowertoolsLayerArn"},
        {"Ref": "DependenciesLayer"},
        {"Ref": "TemplatesLayer"},
    ]


def test_powertools_layer_is_pinned_to_the_version_the_project_uses() -> None:
    parameter = TEMPLATE["Parameters"]["PowertoolsLayerArn"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    match = re.fullmatch(
        r"/aws/service/powertools/python/(\w+)/(python[\d.]+)/(\d+)\.(\d+)\.(\d+)",
        parameter["Default"],
    )
    assert match, parameter["Default"]
    architecture, runtime_name, major, minor, _ = match.groups()
    assert [architecture] == TEMPLATE["Globals"]["Function"]["Architectures"]
    assert runtime_name == TEMPLATE["Globals"]["Function"]["Runtime"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (pin,) = [
        d for d in project["project"]["dependencies"] if d.startswith("aws-lambda-powertools")
    ]
    assert pin == f"aws-lambda-powertools~={major}.{minor}.0"
    installed = importlib.metadata.version("aws-lambda-powertools").split(".")[:2]
    assert installed == [major, minor]


def test_sample_events_have_the_shape_lambda_delivers() -> None:
    paths = [*(ROOT / "events").glob("customers-*.json"), *(ROOT / "events").glob("orders-*.json")]
    for path in sorted(paths):
        for record in json.loads(path.read_text(encoding="utf-8"))["Records"]:
            assert record["eventSource"] == "aws:dynamodb", path.name
            assert record["eventSourceARN"].startswith("arn:aws:dynamodb:"), path.name
            stream = record["dynamodb"]
            assert isinstance(stream["ApproximateCreationDateTime"], int), path.name
            assert stream["SequenceNumber"].isdigit(), path.name
            for image in ("NewImage", "OldImage"):
                for value in stream.get(image, {}).values():
                    if "N" in value:
                        assert isinstance(value["N"], str), path.name


def test_alarm_topic_can_receive_cloudwatch_alarms() -> None:
    # CloudWatch cannot publish to a topic encrypted with the AWS-managed alias/aws/sns key.
    props = RESOURCES["OpsAlarmTopic"]["Properties"]
    assert props.get("KmsMasterKeyId") != "alias/aws/sns"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_function_that_sends_has_time_for_a_send_and_its_mark(name: str) -> None:
    module, _, _ = FUNCTIONS[name]["Properties"]["Handler"].rpartition(".")
    unit = getattr(importlib.import_module(module), "UNIT", None)
    if unit is None or not unit.sends:
        pytest.skip(f"{name} sends no message")
    timeout = FUNCTIONS[name]["Properties"].get(
        "Timeout", TEMPLATE["Globals"]["Function"]["Timeout"]
    )
    # with room to load what the message is about before it
    assert timeout >= DISPATCH_SECONDS + RESERVE_SECONDS + 10


def test_claim_lease_outlasts_any_live_send() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert int(env["CLAIM_LEASE_SECONDS"]) >= 2 * SEND_SECONDS


@pytest.mark.parametrize(("name", "props"), _stream_events())
def test_a_stream_record_in_doubt_is_decided_by_a_retry_before_it_is_parked(
    name: str, props: dict[str, Any]
) -> None:
    # given the lease a send in doubt holds its claim for
    lease = int(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["CLAIM_LEASE_SECONDS"])
    module, _, _ = FUNCTIONS[name]["Properties"]["Handler"].rpartition(".")
    if importlib.import_module(module).UNIT.specs:
        # a redelivered record waits the lease out in its invocation, then sends once
        timeout = FUNCTIONS[name]["Properties"]["Timeout"]
        assert timeout >= lease + 1 + DISPATCH_SECONDS + RESERVE_SECONDS
    # its first retry decides, or its second after it sat behind other records
    assert props["MaximumRetryAttempts"] >= 2
    # and the batch's own pauses let its retries ride out minutes of an outage, not seconds
    pause = int(
        TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["STREAM_RETRY_PAUSE_SECONDS"]
    )
    ridden_out = sum(min(2**attempt, pause) for attempt in range(props["MaximumRetryAttempts"]))
    assert ridden_out >= 5 * 60
    # and it is not too old for those retries long before any lease could matter
    assert props["MaximumRecordAgeInSeconds"] >= max(10 * lease, 2 * ridden_out)
    assert "OnFailure" in props["DestinationConfig"]


def test_ledger_problem_index_is_sparse() -> None:
    indexes = TABLES["LedgerTable"]["Properties"]["GlobalSecondaryIndexes"]
    (index,) = [i for i in indexes if i["IndexName"] == "by_problem"]
    assert index["KeySchema"][0]["AttributeName"] == "problem"


def _has_alarm(queue: str) -> bool:
    dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    return any(dimension in alarm.get("Dimensions", []) for alarm in ALARMS.values())


ASYNC_FUNCTIONS = sorted(
    name
    for name, function in FUNCTIONS.items()
    if {e["Type"] for e in function["Properties"].get("Events", {}).values()}
    & {"SNS", "Schedule", "ScheduleV2", "EventBridgeRule"}
)


def test_there_are_asynchronously_invoked_functions() -> None:
    assert "SesFeedbackFunction" in ASYNC_FUNCTIONS


@pytest.mark.parametrize("name", ASYNC_FUNCTIONS)
def test_asynchronously_invoked_functions_park_failures_in_an_alarmed_queue(name: str) -> None:
    props = FUNCTIONS[name]["Properties"]
    queue = props["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
    assert _has_alarm(queue)


def test_ses_notifications_flow_from_the_configuration_set_to_the_feedback_function() -> None:
    destination = RESOURCES["SesEventDestination"]["Properties"]["EventDestination"]
    chosen = LocalStack.from_template(PARAMETERS).chosen(destination["MatchingEventTypes"])
    assert set(chosen) >= {"bounce", "complaint"}
    topic = destination["SnsDestination"]["TopicARN"]["Ref"]
    events = FUNCTIONS["SesFeedbackFunction"]["Properties"]["Events"]
    assert [e["Properties"]["Topic"] for e in events.values()] == [{"Ref": topic}]
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["SES_CONFIGURATION_SET"] == {"Ref": "SesConfigurationSet"}


ALWAYS_PUBLISHED = {
    "send",
    "delivery",
    "bounce",
    "complaint",
    "reject",
    "renderingFailure",
    "deliveryDelay",
}


@pytest.mark.parametrize(
    ("opens", "clicks", "tracked"),
    [
        ("off", "on", {"click"}),  # the defaults
        ("on", "on", {"open", "click"}),
        ("on", "off", {"open"}),
        ("off", "off", set()),
    ],
)
def test_open_and_click_tracking_parameters_choose_the_published_event_types(
    opens: str, clicks: str, tracked: set[str]
) -> None:
    # given the stack deployed with OpenTracking and ClickTracking so
    stack = LocalStack.from_template({**PARAMETERS, "OpenTracking": opens, "ClickTracking": clicks})
    destination = RESOURCES["SesEventDestination"]["Properties"]["EventDestination"]

    # when CloudFormation decides the event destination's conditions
    chosen = stack.chosen(destination["MatchingEventTypes"])

    # then every other event type is always published, opens and clicks only where tracked
    assert len(chosen) == len(set(chosen))
    assert set(chosen) == ALWAYS_PUBLISHED | tracked


def test_open_tracking_is_off_and_click_tracking_on_by_default() -> None:
    parameters = TEMPLATE["Parameters"]
    assert parameters["OpenTracking"]["Default"] == "off"
    assert parameters["ClickTracking"]["Default"] == "on"
    assert "privacy" in parameters["OpenTracking"]["Description"]
    assert "Apple Mail Privacy Protection" in parameters["OpenTracking"]["Description"]


def test_engagement_table_keeps_the_house_rules_and_only_its_two_writers_write_it() -> None:
    props = TABLES["EngagementTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    writers = {
        name
        for name in FUNCTIONS
        for statement in _inline_statements(_role(name))
        if {"Fn::GetAtt": ["EngagementTable", "Arn"]} in _listed(statement["Resource"])
    }
    # SES feedback writes the engagement events, the tally the report's daily counts.
    assert writers == {"SesFeedbackFunction", "TallyFunction"}
    for name in writers:
        env = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
        assert env["ENGAGEMENT_TABLE"] == {"Ref": "EngagementTable"}


def test_sample_ses_events_are_sns_notifications_with_ses_json() -> None:
    samples = sorted((ROOT / "events").glob("ses-*.json"))
    types = set()
    for path in samples:
        (record,) = json.loads(path.read_text(encoding="utf-8"))["Records"]
        assert record["EventSource"] == "aws:sns", path.name
        assert record["Sns"]["MessageId"], path.name
        message = json.loads(record["Sns"]["Message"])
        types.add(message["eventType"])
        assert message["mail"]["tags"]["customer"], path.name
    assert types == {
        "Send",
        "Bounce",
        "Complaint",
        "Delivery",
        "Open",
        "Click",
        "Reject",
        "Rendering Failure",
        "DeliveryDelay",
    }


# ---------------------------------------------------------------- operations

# What every link in delivered mail, and SNS's undelivered SES notifications, depend on.
RETAINED_FOR_SENT_MAIL = ("LinkSigningSecret", "SesEventsKey")


@pytest.mark.parametrize("name", RETAINED_FOR_SENT_MAIL)
def test_secrets_and_keys_sent_mail_depends_on_outlive_the_stack(name: str) -> None:
    resource = RESOURCES[name]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"
    # A generated name: the retained one never stands in the way of the next deploy.
    assert "Name" not in resource["Properties"]


def test_every_secret_and_key_of_the_stack_is_retained() -> None:
    kinds = {"AWS::SecretsManager::Secret", "AWS::KMS::Key", "AWS::KMS::Alias"}
    assert {k for k, v in RESOURCES.items() if v["Type"] in kinds} == set(RETAINED_FOR_SENT_MAIL)


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_notifies_the_ops_topic(name: str) -> None:
    assert ALARMS[name]["AlarmActions"] == [{"Ref": "OpsAlarmTopic"}]
    assert ALARMS[name]["TreatMissingData"] == "notBreaching"


def _alarms_on(namespace: str, metric: str, dimension: dict[str, Any] | None) -> list[str]:
    return [
        name
        for name, alarm in ALARMS.items()
        if alarm["Namespace"] == namespace
        and alarm["MetricName"] == metric
        and alarm.get("Dimensions", []) == ([dimension] if dimension else [])
    ]


PUBLIC_FUNCTIONS = sorted(
    name
    for name, function in FUNCTIONS.items()
    if function["Properties"].get("FunctionUrlConfig", {}).get("AuthType") == "NONE"
)


def test_the_public_functions_are_the_preference_centre_the_rating_and_the_case_pages() -> None:
    assert PUBLIC_FUNCTIONS == ["CaseDeskFunction", "PreferencesFunction", "RatingsFunction"]


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_public_functions_alarm_on_errors_and_throttles(name: str, metric: str) -> None:
    (alarm,) = _alarms_on("AWS/Lambda", metric, {"Name": "FunctionName", "Value": {"Ref": name}})
    assert ALARMS[alarm]["Statistic"] == "Sum"
    assert ALARMS[alarm]["Threshold"] == 0
    assert ALARMS[alarm]["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_functions_reserve_a_capped_concurrency(name: str) -> None:
    props = FUNCTIONS[name]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReservesPublicConcurrency",
            {"Ref": "PublicEndpointConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    parameter = TEMPLATE["Parameters"]["PublicEndpointConcurrency"]
    assert parameter["Type"] == "Number"
    assert parameter["Default"] == 10
    # 0 reserves nothing: an account whose quota cannot spare any still deploys
    assert parameter["MinValue"] == 0
    assert TEMPLATE["Conditions"]["ReservesPublicConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PublicEndpointConcurrency"}, 0]}]
    }


def test_escalate_after_business_hours_is_at_most_a_week_of_hours() -> None:
    parameter = TEMPLATE["Parameters"]["EscalateAfterBusinessHours"]
    assert (parameter["MinValue"], parameter["MaxValue"]) == (1, 168)


def test_the_escalation_sweep_runs_one_at_a_time() -> None:
    props = FUNCTIONS["CaseEscalationFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesPublicConcurrency", 1, {"Ref": "AWS::NoValue"}]
    }


# AWS reviews an SES account at these rates and may pause its sending at the second (SES
# Developer Guide, reputation metrics). The metrics are rates from 0 to 1.
SES_REPUTATION = {
    "Reputation.BounceRate": (0.05, 0.10),
    "Reputation.ComplaintRate": (0.001, 0.005),
}


@pytest.mark.parametrize("metric", sorted(SES_REPUTATION))
def test_ses_reputation_alarms_fire_before_aws_reviews_the_account(metric: str) -> None:
    review, pause = SES_REPUTATION[metric]
    # The account-level metric (no dimensions): AWS judges the account, not one config set.
    (name,) = _alarms_on("AWS/SES", metric, None)
    alarm = ALARMS[name]
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert 0 < alarm["Threshold"] < review < pause
    assert alarm["Threshold"] == pytest.approx(0.8 * review)


@pytest.mark.parametrize(("function", "props"), _stream_events())
def test_stream_functions_alarm_on_iterator_age_well_before_records_expire(
    function: str, props: dict[str, Any]
) -> None:
    (name,) = _alarms_on(
        "AWS/Lambda", "IteratorAge", {"Name": "FunctionName", "Value": {"Ref": function}}
    )
    alarm = ALARMS[name]
    assert alarm["Statistic"] == "Maximum"
    # IteratorAge is in milliseconds; records are parked at MaximumRecordAgeInSeconds. The
    # template's comment says a quarter: change both together.
    assert alarm["Threshold"] == props["MaximumRecordAgeInSeconds"] * 1000 // 4


DISPATCHING_FUNCTIONS = sorted(
    name for name in FUNCTIONS if "SendMessagesPolicy" in _attached(_role(name))
)


@pytest.mark.parametrize("name", DISPATCHING_FUNCTIONS)
def test_functions_that_send_alarm_on_messages_failed_for_good(name: str) -> None:
    # given the metric exactly as the function's kit emits it (Powertools' EMF)
    handler = FUNCTIONS[name]["Properties"]["Handler"]
    unit = importlib.import_module(handler.rpartition(".")[0]).UNIT
    metrics = kit._metrics(unit)
    # Powertools keeps one metric set for every instance, and local runs disable flushing
    # (POWERTOOLS_METRICS_DISABLED): start from an empty set, whatever ran before.
    metrics.clear_metrics()
    metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=1)
    try:
        emitted = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
    (directive,) = emitted["_aws"]["CloudWatchMetrics"]
    ((dimension,),) = directive["Dimensions"]

    # then an alarm watches that very metric
    (alarm,) = _alarms_on(
        directive["Namespace"], "MessagesFailed", {"Name": dimension, "Value": emitted[dimension]}
    )
    assert ALARMS[alarm]["Threshold"] == 0
    assert ALARMS[alarm]["ComparisonOperator"] == "GreaterThanThreshold"
    environment = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
    assert environment["POWERTOOLS_SERVICE_NAME"] == unit.service


def test_sending_functions_and_stream_functions_are_found() -> None:
    assert {"WelcomeFunction", "OrdersFunction", "RatingFollowUpFunction"} <= set(
        DISPATCHING_FUNCTIONS
    )
    assert len(_stream_events()) >= 3


# ------------------------------------------------ who may publish to SNS, as IAM decides it

ACCOUNT_ID = "123456789012"
PHONE = "+447700900123"  # IAM's resource for an SMS published straight to a phone number
TOPICS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::SNS::Topic")


def _topic_arn(topic: str) -> str:
    return f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:{topic}"


def _resource_pattern(resource: Any) -> str:
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and resource.get("Ref") in TOPICS:
        return _topic_arn(resource["Ref"])
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        return str(resource["Fn::Sub"]).replace("${AWS::Partition}", "aws")
    # Anything else (tables, queues...) never matches an SNS target here.
    return json.dumps(resource, sort_keys=True)


def _may_publish(function: str, target: str) -> bool:
    """IAM's answer for sns:Publish on `target` from the function's role: an explicit Deny
    wins, else an Allow is needed (wildcards as IAM matches them)."""
    role = _role(function)
    statements = _inline_statements(role)
    for policy in sorted(_attached(role)):
        statements += _managed_statements(policy)
    matching = {
        statement["Effect"]
        for statement in statements
        if any(fnmatch.fnmatchcase("sns:Publish", a) for a in _listed(statement["Action"]))
        and any(
            fnmatch.fnmatchcase(target, _resource_pattern(r))
            for r in _listed(statement["Resource"])
        )
    }
    return "Deny" not in matching and "Allow" in matching


SMS_FUNCTIONS = sorted(name for name in FUNCTIONS if _may_publish(name, PHONE))


def test_sms_senders_are_the_roles_with_send_sms_policy() -> None:
    with_policy = sorted(name for name in FUNCTIONS if "SendSmsPolicy" in _attached(_role(name)))
    assert SMS_FUNCTIONS
    assert with_policy == SMS_FUNCTIONS


@pytest.mark.parametrize("name", SMS_FUNCTIONS)
def test_sms_senders_can_publish_to_no_topic(name: str) -> None:
    for topic in TOPICS:
        assert not _may_publish(name, _topic_arn(topic)), topic
    assert not _may_publish(name, f"arn:aws:sns:us-east-1:999999999999:{name}")
    assert not _may_publish(name, f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:endpoint/GCM/app/1")


def _topics_published_to(function: str) -> set[str]:
    return {t for t in TOPICS if _may_publish(function, _topic_arn(t))}


TOPIC_PUBLISHERS = sorted(name for name in FUNCTIONS if _topics_published_to(name))


def test_complaint_alerts_and_escalations_are_the_topic_publishers() -> None:
    assert TOPIC_PUBLISHERS == ["CaseEscalationFunction", "RatingFollowUpFunction"]


@pytest.mark.parametrize("name", TOPIC_PUBLISHERS)
def test_topic_publishers_reach_their_own_topic_only(name: str) -> None:
    environment = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
    own = {v["Ref"] for v in environment.values() if isinstance(v, dict) and v.get("Ref") in TOPICS}
    assert _topics_published_to(name) == own
    assert not _may_publish(name, PHONE)
    assert not _may_publish(name, f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:another-topic")


# ------------------------------------------------ what a deploy says at the end

WARNINGS = {
    # output: (condition, parameter, what is said without it)
    "ComplaintAlerts": ("HasComplaintsEmail", "ComplaintsEmail", "reach no person"),
    "OpsAlarms": ("HasAlarmEmail", "AlarmEmail", "reach no one"),
}


@pytest.mark.parametrize("output", sorted(WARNINGS))
def test_a_deploy_without_someone_to_tell_says_so(output: str) -> None:
    condition, parameter, said = WARNINGS[output]
    chosen_by, when_set, when_missing = TEMPLATE["Outputs"][output]["Value"]["Fn::If"]
    assert chosen_by == condition
    assert when_missing.startswith("WARNING: ")
    assert said in when_missing
    assert f"${{{parameter}}}" in when_set["Fn::Sub"]
    # and the condition is false exactly when the parameter is left empty
    assert not LocalStack.from_template(PARAMETERS).condition(condition)
    assert LocalStack.from_template({**PARAMETERS, parameter: "ops@example.com"}).condition(
        condition
    )


def test_outputs_name_the_ses_configuration_set_and_what_is_retained() -> None:
    outputs = TEMPLATE["Outputs"]
    assert outputs["SesConfigurationSetName"]["Value"] == {"Ref": "SesConfigurationSet"}
    assert outputs["LinkSigningSecretArn"]["Value"] == {"Ref": "LinkSigningSecret"}
    assert outputs["SesEventsKeyArn"]["Value"] == {"Fn::GetAtt": ["SesEventsKey", "Arn"]}


# ------------------------------------------------ deferred messages (quiet hours, the cap)

DEFERRED_SEND_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
    "${AWS::StackName}-deferred-send"
}


def _unit(name: str) -> kit.Unit[Any] | None:
    module = importlib.import_module(FUNCTIONS[name]["Properties"]["Handler"].rpartition(".")[0])
    unit: kit.Unit[Any] | None = getattr(module, "UNIT", None)
    return unit


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_whose_messages_may_wait_may_defer_them_and_no_others(name: str) -> None:
    unit = _unit(name)
    defers = unit is not None and any(composition.may_defer(spec) for spec in unit.sends)
    assert ("DeferMessagesPolicy" in _attached(_role(name))) == defers


def test_deferrals_create_schedules_only_in_their_group_run_by_their_own_role() -> None:
    grants = _grants(_managed_statements("DeferMessagesPolicy"))
    schedules = json.dumps(
        {
            "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:"
            "schedule/${DeferredMessagesGroup}/*"
        },
        sort_keys=True,
    )
    role = json.dumps({"Fn::GetAtt": ["DeferralSchedulerRole", "Arn"]}, sort_keys=True)
    assert grants == {
        ("scheduler:CreateSchedule", schedules),
        ("scheduler:UpdateSchedule", schedules),
        ("iam:PassRole", role),
    }
    assert RESOURCES["DeferredMessagesGroup"]["Type"] == "AWS::Scheduler::ScheduleGroup"


def test_the_deferral_role_may_invoke_the_deferred_send_function_only() -> None:
    role = RESOURCES["DeferralSchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    grants = _grants(_inline_statements(RESOURCES["DeferralSchedulerRole"]))
    assert grants == {
        ("lambda:InvokeFunction", json.dumps(DEFERRED_SEND_ARN, sort_keys=True)),
        (
            "sqs:SendMessage",
            json.dumps({"Fn::GetAtt": ["DeferredSendFailureQueue", "Arn"]}, sort_keys=True),
        ),
    }


def test_the_deferred_send_function_is_named_as_its_arn_says() -> None:
    # Its ARN is built from its name (it defers too, and cannot !GetAtt itself): both agree.
    props = FUNCTIONS["DeferredSendFunction"]["Properties"]
    assert props["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-deferred-send"}
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["DEFERRED_SEND_FUNCTION_ARN"] == DEFERRED_SEND_ARN
    assert env["DEFERRAL_SCHEDULE_GROUP"] == {"Ref": "DeferredMessagesGroup"}
    assert env["DEFERRAL_SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["DeferralSchedulerRole", "Arn"]}
    stack = LocalStack.from_template(PARAMETERS)
    target = stack.function("OrdersFunction").environment["DEFERRED_SEND_FUNCTION_ARN"]
    found = stack.function_by_arn(target)
    assert found is not None
    assert found.logical_id == "DeferredSendFunction"


def test_parked_deferred_sends_land_in_an_alarmed_queue() -> None:
    props = FUNCTIONS["DeferredSendFunction"]["Properties"]
    queue = props["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
    assert queue == "DeferredSendFailureQueue"
    assert _has_alarm(queue)
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["DEFERRAL_DLQ_ARN"] == {"Fn::GetAtt": [queue, "Arn"]}


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("21:00-08:00", True), ("off", True), ("22:30-07:15", True), ("24:00-08:00", False)],
)
def test_the_quiet_hours_parameter_takes_what_the_settings_read(value: str, allowed: bool) -> None:
    parameter = TEMPLATE["Parameters"]["QuietHours"]
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is allowed
    if allowed:
        CoreSettings.from_env({**_environment("WelcomeFunction"), "QUIET_HOURS": value})


def test_the_default_quiet_window_fits_the_default_maximum_delay_on_the_longest_night() -> None:
    # 21:00 to 08:00 is 11 hours, 12 on the night the clocks go back
    assert TEMPLATE["Parameters"]["QuietHours"]["Default"] == "21:00-08:00"
    assert TEMPLATE["Parameters"]["QuietHoursMaxDelayHours"]["Default"] >= 12


def _environment(name: str) -> dict[str, str]:
    return LocalStack.from_template(PARAMETERS).function(name).environment
