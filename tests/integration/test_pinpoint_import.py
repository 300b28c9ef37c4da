"""`lifecycle import pinpoint` over moto, from the sample export under events/pinpoint/: every
valid endpoint lands once, bad rows are reported with their line, opt-outs stop the next
announcement, a re-import writes nothing, a newer export updates only what changed, and no
imported customer is welcomed."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import time_machine
from boto3.dynamodb.types import TypeDeserializer

from lifecycle.cli import main
from lifecycle.local.pinpoint_samples import SAMPLE_FILE, SAMPLE_USERS, export_bytes
from lifecycle.local.stack import LocalContext
from lifecycle.models import deliverable_email
from lifecycle.phones import e164
from lifecycle.pinpoint import endpoints as kinds
from lifecycle.pinpoint import importer
from lifecycle.pinpoint.mapping import Mapping, load
from lifecycle.stages.announcements.planner import start_schedule_name
from tests.conftest import Aws
from tests.integration.campaign_helpers import (
    campaign,
    control,
    fire,
    templates_with_campaign,
    use_templates,
)

EVENTS = Path(__file__).resolve().parents[2] / "events" / "pinpoint"
TABLES = importer.Tables("CustomersTable", "PreferencesTable")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _sample_endpoints() -> list[dict[str, Any]]:
    data = gzip.decompress((EVENTS / SAMPLE_FILE).read_bytes()).decode("utf-8")
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def _valid(endpoint: dict[str, Any]) -> bool:
    check = deliverable_email if endpoint["ChannelType"] == "EMAIL" else e164
    try:
        check(endpoint["Address"])
    except ValueError:
        return False
    return endpoint["EndpointStatus"] == "ACTIVE"


def _expected() -> dict[str, dict[str, str]]:
    """Written from the export, not from the importer: per user with a first name, the
    address of the newest active valid endpoint of each channel."""
    users: dict[str, dict[str, tuple[str, str]]] = {}
    named: set[str] = set()
    for endpoint in _sample_endpoints():
        user = endpoint["User"]["UserId"]
        if "FirstName" in endpoint["User"]["UserAttributes"]:
            named.add(user)
        if endpoint["ChannelType"] not in ("EMAIL", "SMS") or not _valid(endpoint):
            continue
        field = "email" if endpoint["ChannelType"] == "EMAIL" else "phone"
        newest = users.setdefault(user, {}).get(field)
        if newest is None or endpoint["EffectiveDate"] > newest[0]:
            users[user][field] = (endpoint["EffectiveDate"], endpoint["Address"])
    return {
        user: {field: address for field, (_, address) in chosen.items()}
        for user, chosen in users.items()
        if user in named
    }


def _rows() -> dict[str, dict[str, Any]]:
    deserialize = TypeDeserializer().deserialize
    found: dict[str, dict[str, Any]] = {}
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName="CustomersTable"):
        for item in page["Items"]:
            row = {k: deserialize(v) for k, v in item.items()}
            found[row["customer_id"]] = row
    return found


Importer = Callable[..., importer.ImportReport]


@pytest.fixture
def run_import(tmp_path: Path) -> Importer:
    """The import over moto's tables; its template folders and campaign files go under the
    test's own folder."""

    def run(
        source: Path | str, mapping: Mapping | None = None, dry_run: bool = False
    ) -> importer.ImportReport:
        writer = importer.CustomerWriter(boto3.client("dynamodb"), TABLES, dry_run)
        opened = importer.open_source(str(source), lambda: boto3.client("s3"))
        chosen = mapping or load(EVENTS / "mapping.yaml")
        out = tmp_path / "written"
        return importer.run(opened, chosen, writer, out / "templates", out / "campaigns")

    return run


def test_every_valid_endpoint_lands_once_and_bad_rows_are_reported_with_their_line(
    aws: Aws,
    run_import: Importer,
) -> None:
    # given the sample export: opt-outs, bad addresses, push endpoints, several locales

    # when it is imported
    report = run_import(EVENTS)

    # then each user with a usable address is one customer, with the newest valid addresses
    expected = _expected()
    rows = _rows()
    assert set(rows) == set(expected)
    for user, addresses in expected.items():
        assert {f: rows[user].get(f) for f in ("email", "phone") if f in rows[user]} == addresses
    assert report.customers.new == len(expected)
    assert report.users == SAMPLE_USERS
    # and locales and zones are carried as the product writes them
    assert Counter(r.get("locale") for r in rows.values()).keys() <= {
        "en-US",
        "en-GB",
        "nl-NL",
        "nl-BE",
        "tr-TR",
        "zh-TW",
    }
    assert all("timezone" not in r or "/" in r["timezone"] for r in rows.values())
    assert {r["city"] for r in rows.values()} >= {"Amsterdam", "İstanbul"}
    # and every rejected endpoint is reported at its own line, without the address
    lines = (EVENTS / SAMPLE_FILE).name
    by_line = {
        f"{SAMPLE_FILE.split('/')[0]}/{lines}:{n}": e for n, e in enumerate(_sample_endpoints(), 1)
    }
    bad = [p for p in report.problems if p.kind in (kinds.BAD_EMAIL, kinds.BAD_PHONE)]
    assert bad
    for problem in bad:
        endpoint = by_line[problem.where]
        assert not _valid(endpoint)
        assert endpoint["Address"] not in problem.detail
    pushed = [p for p in report.problems if p.kind == kinds.OTHER_CHANNEL]
    assert {by_line[p.where]["ChannelType"] for p in pushed} == {"APNS"}


def test_opt_outs_are_recorded_and_honoured_by_the_next_announcement(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    # given the sample export imported
    report = run_import(EVENTS)
    opted_out = {
        e["User"]["UserId"]
        for e in _sample_endpoints()
        if e["ChannelType"] == "EMAIL" and e["OptOut"] == "ALL" and _valid(e)
    } & set(_rows())
    assert opted_out
    assert report.customers.opt_outs_new >= len(opted_out)
    # and the preference store has each with its source and date
    history = boto3.client("dynamodb").query(
        TableName="PreferencesTable",
        KeyConditionExpression="customer_id = :c",
        ExpressionAttributeValues={":c": {"S": sorted(opted_out)[0]}},
    )["Items"]
    events = [i for i in history if i["entry"]["S"].startswith("event#")]
    assert [e["source"]["S"] for e in events] == ["pinpoint-import"]

    # when an announcement goes to everyone by email
    use_templates(aws, templates_with_campaign(tmp_path))
    for name in ("CampaignPlannerFunction", "CampaignSenderFunction"):
        aws.stack.overrides.setdefault(name, {})["CAMPAIGN_SEND_RATE"] = "2000"
    chosen = campaign(send={"at": "2026-12-02T09:00:00Z"})
    with time_machine.travel(NOW, tick=False):
        control(aws).schedule(chosen)
    fire(aws, start_schedule_name(chosen.id))

    # then nobody who opted out in Pinpoint got it, and those who consented did
    rows = _rows()
    sent_to = {email.to for email in aws.emails()}
    assert not sent_to & {rows[c]["email"] for c in opted_out}
    consenting = {
        r["email"]
        for c, r in rows.items()
        if "email" in r and r["consent"]["email_marketing"] and c not in opted_out
    }
    assert sent_to == consenting


def test_a_reimport_writes_nothing_and_a_newer_export_updates_only_what_changed(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    # given the sample imported, and an attribute the business added since
    run_import(EVENTS)
    first = _rows()
    some = sorted(first)[0]
    boto3.client("dynamodb").update_item(
        TableName="CustomersTable",
        Key={"customer_id": {"S": some}},
        UpdateExpression="SET loyalty_card = :v",
        ExpressionAttributeValues={":v": {"S": "LC-1"}},
    )

    # when the same export is imported again
    again = run_import(EVENTS)

    # then nothing is written
    assert (again.customers.new, again.customers.updated) == (0, 0)
    assert again.customers.unchanged == len(first)
    assert again.customers.opt_outs_new == 0
    assert again.customers.writes == 0
    assert set(again.customers.calls) == {"BatchGetItem"}
    assert set(again.templates.values()) == {importer.Outcome.UNCHANGED}
    assert again.campaigns == {"spring-offer-2026": importer.Outcome.UNCHANGED}

    # when a newer export moves one customer to another city
    changed = []
    for endpoint in _sample_endpoints():
        if endpoint["User"]["UserId"] == some:
            endpoint = {**endpoint, "Location": {"City": "Haarlem", "Country": "NL"}}
            endpoint["EffectiveDate"] = "2026-11-30T10:00:00.000Z"
        changed.append(json.dumps(endpoint))
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "part-00000.gz").write_bytes(gzip.compress("\n".join(changed).encode()))
    update = run_import(newer)

    # then only that customer is updated, only in what changed, the business's own kept
    assert (update.customers.new, update.customers.updated) == (0, 1)
    after = _rows()
    assert after[some]["city"] == "Haarlem"
    assert after[some]["loyalty_card"] == "LC-1"
    assert after[some]["created_at"] == first[some]["created_at"]
    assert {c: r for c, r in after.items() if c != some} == {
        c: r for c, r in first.items() if c != some
    }


def test_no_imported_customer_is_welcomed(aws: Aws, run_import: Importer) -> None:
    # given the sample imported
    report = run_import(EVENTS)

    # when the Customers stream reaches the welcome stage, as Lambda delivers it
    aws.stack.pump(LocalContext.for_function)

    # then no welcome email or SMS went, and each is recorded as skipped with its reason
    assert aws.emails() == []
    assert aws.sms() == []
    rows = _rows()
    for customer_id, row in rows.items():
        for channel, field in (("email", "email"), ("sms", "phone")):
            item = aws.ledger(f"welcome#{customer_id}#{channel}")
            if field in row:
                assert item is not None, customer_id
                assert item["status"] == "skipped"
                assert item["reason"] == "welcomed before: welcomed_at is set"
    assert report.customers.new == len(rows)


def test_an_s3_prefix_imports_as_the_folder_does(aws: Aws, run_import: Importer) -> None:
    # given the export where the export job wrote it
    s3 = boto3.client("s3")
    region = s3.meta.region_name
    s3.create_bucket(Bucket="exports", CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(
        Bucket="exports",
        Key="pinpoint/app-1/part-00000.gz",
        Body=(EVENTS / SAMPLE_FILE).read_bytes(),
    )

    # when imported from the prefix (dry run, then for real)
    dry = run_import("s3://exports/pinpoint/app-1", dry_run=True)
    assert _rows() == {}
    report = run_import("s3://exports/pinpoint/app-1")

    # then it is the same import
    assert dry.customers.new == report.customers.new == len(_expected())
    assert dry.customers.opt_outs_new == report.customers.opt_outs_new


def test_a_line_that_is_not_an_endpoint_is_reported_and_the_rest_imported(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    # given an export with a broken line in the middle
    lines = gzip.decompress(export_bytes(5)).decode().splitlines()
    lines.insert(2, '{"ChannelType": "EMAIL", "Address": ')
    (tmp_path / "part.gz").write_bytes(gzip.compress("\n".join(lines).encode()))

    # when imported
    report = run_import(tmp_path)

    # then the broken line is reported at its number, and the others are imported
    assert [(p.kind, p.where) for p in report.problems if p.kind == kinds.NOT_JSON] == [
        (kinds.NOT_JSON, "part.gz:3")
    ]
    assert report.customers.new >= 3


def test_the_command_prints_what_it_would_write(
    aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERS_TABLE", "CustomersTable")
    monkeypatch.setenv("PREFERENCES_TABLE", "PreferencesTable")
    problems = tmp_path / "problems.tsv"
    code = main(
        [
            "import",
            "pinpoint",
            "--from",
            str(EVENTS),
            "--mapping",
            str(EVENTS / "mapping.yaml"),
            "--dry-run",
            "--quiet",
            "--problems",
            str(problems),
            "--templates",
            str(tmp_path / "templates"),
            "--campaigns",
            str(tmp_path / "campaigns"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"customers: {len(_expected())} new, 0 updated, 0 unchanged" in out
    assert "dry run: nothing written" in out
    assert _rows() == {}
    assert "invalid email address" in problems.read_text()
    assert "templates: 4 new" in out
    assert "campaigns: 1 new (spring-offer-2026)" in out
    assert not (tmp_path / "templates").exists()


def test_a_mapping_that_is_not_valid_is_refused_with_what_is_wrong(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "mapping.yaml"
    bad.write_text("attributes:\n  Location.City: email\nconsent:\n  PUSH: [email_marketing]\n")
    code = main(["import", "pinpoint", "--from", str(EVENTS), "--mapping", str(bad), "--local"])
    err = capsys.readouterr().err
    assert code == 1
    assert "'email' (for Location.City) is one the import writes itself" in err
    assert "'PUSH' is not a channel type" in err


def _export(folder: Path, *endpoints: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(json.dumps(e) for e in endpoints)
    (folder / "part-00000.gz").write_bytes(gzip.compress(lines.encode()))
    return folder


def _endpoint(user: str, **changes: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "Id": f"{user}-email",
        "ChannelType": "EMAIL",
        "Address": f"{user}@example.com",
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "EffectiveDate": "2025-05-01T10:00:00Z",
        "CreationDate": "2024-01-02T03:04:05Z",
        "Location": {"City": "Utrecht"},
        "User": {"UserId": user, "UserAttributes": {"FirstName": ["Ann"]}},
    }
    endpoint.update(changes)
    return endpoint


def _put_row(customer_id: str, **values: Any) -> None:
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    item = {"customer_id": customer_id, "created_at": "2020-01-01T00:00:00+00:00", **values}
    boto3.client("dynamodb").put_item(
        TableName="CustomersTable", Item={k: serialize(v) for k, v in item.items()}
    )


def test_a_customer_the_business_wrote_keeps_its_values_and_no_consent_is_granted(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    # given a customer the business's own system wrote: no marketing email, SMS consent
    _put_row(
        "u-1",
        first_name="Cathy",
        email="cathy@example.com",
        consent={"email_marketing": False, "sms_marketing": True, "sms_transactional": True},
    )
    # and a Pinpoint export where that user has only an email endpoint, not opted out
    export = _export(tmp_path / "export", _endpoint("u-1"))

    # when imported
    report = run_import(export)

    # then the row keeps what the business wrote, gains only what it lacked, and consent is
    # neither granted (email) nor taken on a channel Pinpoint knew nothing of (SMS)
    row = _rows()["u-1"]
    assert (row["first_name"], row["email"], row["created_at"]) == (
        "Cathy",
        "cathy@example.com",
        "2020-01-01T00:00:00+00:00",
    )
    assert row["city"] == "Utrecht"
    assert row["consent"] == {
        "email_marketing": False,
        "sms_marketing": True,
        "sms_transactional": True,
    }
    assert "welcomed_at" not in row
    assert report.customers.updated == 1


def test_an_edit_made_here_survives_a_reimport_and_a_newer_export_carries_its_change(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    # given an import, then the customer's first name corrected here
    run_import(_export(tmp_path / "first", _endpoint("u-1")))
    boto3.client("dynamodb").update_item(
        TableName="CustomersTable",
        Key={"customer_id": {"S": "u-1"}},
        UpdateExpression="SET first_name = :n",
        ExpressionAttributeValues={":n": {"S": "Anne-Marie"}},
    )

    # when the same export is imported again
    again = run_import(tmp_path / "first")

    # then the correction stands and nothing is written
    assert _rows()["u-1"]["first_name"] == "Anne-Marie"
    assert (again.customers.updated, again.customers.writes) == (0, 0)

    # when a newer export moves them to Haarlem (and still says Ann)
    newer = _endpoint("u-1", Location={"City": "Haarlem"}, EffectiveDate="2026-11-30T10:00:00Z")
    update = run_import(_export(tmp_path / "newer", newer))

    # then only what Pinpoint changed is carried
    row = _rows()["u-1"]
    assert (row["city"], row["first_name"]) == ("Haarlem", "Anne-Marie")
    assert update.customers.updated == 1


def test_an_opt_out_of_a_user_not_imported_is_recorded_and_a_later_choice_here_stands(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    from lifecycle.adapters.preferences import DynamoPreferences
    from lifecycle.messaging.message import Channel
    from lifecycle.messaging.preferences import ALL_TOPICS, Action, Change, Source

    # given a user with no first name who opted out, and one who opted out then came back here
    nameless = _endpoint("u-2", OptOut="ALL", User={"UserId": "u-2", "UserAttributes": {}})
    left = _endpoint("u-3", OptOut="ALL")
    report = run_import(_export(tmp_path / "first", nameless, left))
    preferences = DynamoPreferences(boto3.client("dynamodb"), "PreferencesTable")
    assert "u-2" not in _rows()
    assert "email:*" in preferences.get("u-2").opt_outs
    assert report.customers.opt_outs_not_imported == 1
    preferences.apply(
        "u-3",
        [Change(Channel.EMAIL, ALL_TOPICS, Action.RESUBSCRIBE)],
        Source.PREFERENCE_CENTRE,
        NOW,
        "came-back",
    )

    # when a newer export (its endpoint touched since, before they came back) is imported
    touched = _endpoint("u-3", OptOut="ALL", EffectiveDate="2026-06-01T00:00:00Z")
    again = run_import(_export(tmp_path / "newer", nameless, touched))

    # then their later choice stands, and the nameless user's opt-out is not doubled
    assert "email:*" not in preferences.get("u-3").opt_outs
    assert again.customers.opt_outs_later_choice == 1
    assert again.customers.opt_outs_new == 0


def test_a_file_that_cannot_be_read_is_reported_and_the_others_imported(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    export = _export(tmp_path / "export", _endpoint("u-1"))
    (export / "part-00001.gz").write_bytes(b"not gzip at all")
    (export / "part-00002.jsonl").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(_endpoint("u-4")).encode()
    )

    report = run_import(export)

    assert set(_rows()) == {"u-1", "u-4"}
    unreadable = [p for p in report.problems if p.kind == kinds.NOT_READABLE]
    assert [p.where for p in unreadable] == ["part-00001.gz"]


def test_a_folder_with_nothing_to_import_is_an_error(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(importer.PinpointImportError, match="no export files"):
        run_import(tmp_path / "empty")


def test_a_template_folder_someone_wrote_or_edited_is_kept(
    aws: Aws, run_import: Importer, tmp_path: Path
) -> None:
    # given the import's template folders, then one edited by a marketer
    run_import(EVENTS)
    written = tmp_path / "written" / "templates"
    subject = written / "campaign_spring_offer" / "email.subject.j2"
    subject.write_text("Spring: our own words\n", encoding="utf-8")

    # when the export is imported again
    again = run_import(EVENTS)

    # then the edited folder is kept as it is, the others unchanged, and the report says so
    assert again.templates["campaign_spring_offer"] is importer.Outcome.KEPT
    assert subject.read_text(encoding="utf-8") == "Spring: our own words\n"
    assert {o for f, o in again.templates.items() if f != "campaign_spring_offer"} == {
        importer.Outcome.UNCHANGED
    }
    assert any(p.where == "templates/campaign_spring_offer" for p in again.problems)
