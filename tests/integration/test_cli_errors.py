"""The ops commands (`send-test`, `export`, `forget`, `replay`) in a broken environment: one
clear line on stderr and exit status 1, never a traceback, and the region taken the way AWS
tools take it.

No test reaches AWS: without a region or credentials boto3 stops before any request, and the
endpoint is pointed at a closed local port besides; the rest runs against moto."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns import sns_backends

from lifecycle.cli import main
from lifecycle.local.serve import seed
from tests.conftest import ROOT, Aws
from tests.integration.test_subject_requests import TABLES

TEMPLATES = str(ROOT / "templates")
SEND_SMS = ["send-test", "welcome", "--to", "+31612345678", "--templates", TEMPLATES]
EXPORT = ["export", "c-1001"]
FORGET = ["forget", "c-1001", "--yes"]


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No AWS configuration at all: no region, no credentials, no config files, no instance
    metadata; and a closed local port as the endpoint, should anything try to connect."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for name, value in TABLES.items():
        monkeypatch.setenv(name, value)
    # an earlier test's default session would still hold its (fake) credentials
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return monkeypatch


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [SEND_SMS, EXPORT, FORGET, [*EXPORT, "--stack", "lifecycle"]],
    ids=["send-test", "export", "forget", "export-stack"],
)
def test_no_region_is_one_line(
    nowhere: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(args) == 1

    line = _one_line(capsys.readouterr().err)
    assert line == (
        f"lifecycle {args[0]}: no AWS region configured: pass --region, or set AWS_REGION"
    )


@pytest.mark.parametrize("args", [SEND_SMS, EXPORT, FORGET], ids=["send-test", "export", "forget"])
@pytest.mark.parametrize("region", ["AWS_REGION", "AWS_DEFAULT_REGION", "--region"])
def test_no_credentials_is_said_so_whichever_way_the_region_is_given(
    nowhere: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    region: str,
) -> None:
    if region == "--region":
        args = [*args, "--region", "eu-west-1"]
    else:
        nowhere.setenv(region, "eu-west-1")

    assert main(args) == 1

    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"lifecycle {args[0]}: no AWS credentials found")
    assert "refused" not in line
    assert "AWS_DEFAULT_REGION" not in os.environ or region == "AWS_DEFAULT_REGION"


def test_send_test_honours_aws_region(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")

    assert main(SEND_SMS) == 0

    sent = sns_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].sms_messages
    assert [number for number, _ in sent.values()] == ["+31612345678"]


def test_region_flag_wins_over_the_environment(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    assert main([*SEND_SMS, "--region", "eu-central-1"]) == 0

    assert sns_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].sms_messages
    assert not sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"  # restored after the command


def test_export_honours_aws_region(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the stack's tables are in eu-west-1; AWS_REGION alone must find them
    for name, value in TABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    code = main(["export", "c-nobody"])

    assert code == 1
    assert _one_line(capsys.readouterr().err) == (
        "lifecycle export: no customer c-nobody: nothing exported"
    )


def test_unknown_stack_is_one_line(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*EXPORT, "--stack", "no-such-stack"]) == 1

    assert _one_line(capsys.readouterr().err) == (
        "lifecycle export: no stack named 'no-such-stack' in eu-west-1"
    )


def test_replay_of_an_unknown_stack_is_one_line(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--stack", "no-such-stack"]) == 1

    assert _one_line(capsys.readouterr().err) == (
        "lifecycle replay: no stack named 'no-such-stack' in eu-west-1"
    )


def test_replay_without_a_region_is_one_line(
    nowhere: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--stack", "lifecycle"]) == 1

    assert "no AWS region configured" in _one_line(capsys.readouterr().err)


def test_unwritable_out_is_one_line(
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name, value in TABLES.items():
        monkeypatch.setenv(name, value)
    seed(aws.stack, [{"customer_id": "c-1001", "first_name": "Ann", "email": "a@example.com"}])
    (tmp_path / "file").write_text("not a folder")
    out = str(tmp_path / "file" / "export.json")

    assert main([*EXPORT, "--out", out]) == 1

    line = _one_line(capsys.readouterr().err)  # before any table is read
    assert line.startswith(f"lifecycle export: cannot write {out}: ")


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    lifecycle = Path(sys.executable).with_name("lifecycle")

    done = subprocess.run(  # noqa: S603 - our own entry point
        [str(lifecycle), "forget", "c-1", "--yes", "--stack", "lifecycle"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 1
    assert _one_line(done.stderr) == (
        "lifecycle forget: no AWS region configured: pass --region, or set AWS_REGION"
    )


def test_a_bug_raised_while_handling_an_aws_error_keeps_its_traceback() -> None:
    import argparse

    from botocore.exceptions import ClientError, ParamValidationError

    from lifecycle.cli import _aws_problem

    refused = ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
    bug = KeyError("missing")  # raised by the code handling `refused`
    bug.__context__ = refused
    assert _aws_problem(bug, argparse.Namespace(command="forget")) is None
    wrong_call = ParamValidationError(report="Unknown parameter in input: 'Tablename'")
    assert _aws_problem(wrong_call, argparse.Namespace(command="export")) is None
    # while an adapter's wrapped AWS error is still found
    assert _aws_problem(refused, argparse.Namespace(command="forget")) is not None
