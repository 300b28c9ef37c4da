"""`lifecycle campaign lint`: the shipped campaign files pass; a broken one is reported at the
line of each problem, never with a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lifecycle.authoring.campaigns import lint_campaigns
from lifecycle.authoring.lint import ERROR, WARNING
from lifecycle.cli import main
from tests.conftest import ROOT

TEMPLATES = ROOT / "templates"
SHIPPED = ROOT / "campaigns" / "eco-wash-launch.yaml"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def found(*paths: Path, templates: Path = TEMPLATES) -> list[str]:
    return [str(f) for f in lint_campaigns(list(paths), templates)]


def test_the_shipped_campaigns_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "lint", str(ROOT / "campaigns"), "--templates", str(TEMPLATES)]) == 0

    out = capsys.readouterr().out
    assert out.endswith("all campaign files pass; 0 error(s), 0 warning(s)\n")


def test_the_demo_campaign_tests_two_templates_on_both_channels() -> None:
    import yaml

    from lifecycle.stages.announcements.campaign import parse

    eco = parse(yaml.safe_load(SHIPPED.read_text("utf-8")), source=str(SHIPPED))

    assert eco.templates() == {"A": "campaign_eco_wash", "B": "campaign_eco_wash_b"}
    assert [v.share for v in eco.variants] == [0.5, 0.5]
    assert (eco.holdout, [str(c) for c in eco.channels]) == (0.1, ["email", "sms"])
    assert eco.audience.stages == ("prospect", "new", "active", "loyal")
    assert (str(eco.send.date), str(eco.send.local_time)) == ("2026-05-20", "10:00:00")


def test_each_problem_of_a_broken_file_is_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "spring.yaml",
        """id: Spring
name: Spring sale
channels: [email, fax]
audence: {stages: [active]}
send: {date: 2026-05-20, local_time: "10:00"}
message: {template: campaign_eco_wash, link: "http://freshfold.example"}
""",
    )

    assert found(path) == [
        f"{path}:1: id: lower-case letters, digits and dashes, up to 50 characters",
        f"{path}:3: channels.1: Input should be 'email' or 'sms'",
        f"{path}:4: audence: not a campaign field (a typo?)",
        f"{path}:6: message.link: String should match pattern '^https://\\S+$'",
    ]


def test_a_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "id: broken\nname: [Spring\nsend: {}\n")

    (problem,) = found(path)

    assert problem.startswith(f"{path}:3: not valid YAML: while parsing a flow sequence (line 2)")


def test_an_unquoted_local_time_is_caught_before_it_means_ten_past_midnight(
    tmp_path: Path,
) -> None:
    text = SHIPPED.read_text("utf-8").replace('local_time: "10:00"', "local_time: 10:00")
    path = write(tmp_path, "eco-wash-launch.yaml", text)

    (problem,) = found(path)

    assert problem.endswith(': write local_time in quotes: "10:00"')
    assert text.splitlines()[int(problem.split(":")[1]) - 1].strip() == "local_time: 10:00"


def test_the_id_must_be_the_file_name_and_a_key_given_twice_is_named(tmp_path: Path) -> None:
    text = SHIPPED.read_text("utf-8") + "name: Eco wash launch, again\n"
    path = write(tmp_path, "eco-wash.yaml", text)

    problems = found(path)

    assert any(
        p.startswith(f"{path}:8: id 'eco-wash-launch' is not the file's name") for p in problems
    )
    assert f"{path}:{len(text.splitlines())}: 'name' is given twice" in " ".join(problems)


def test_templates_that_are_missing_or_cannot_send_by_the_campaigns_channels(
    tmp_path: Path,
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "campaign_eco_wash_b" / "sms.txt.j2").unlink()
    text = SHIPPED.read_text("utf-8").replace(
        "template: campaign_eco_wash\n", "template: campaign_eco_wash_c\n"
    )
    path = write(tmp_path, "eco-wash-launch.yaml", text)

    problems = found(path, templates=templates)

    line = next(n for n, t in enumerate(text.splitlines(), 1) if "campaign_eco_wash_c" in t)
    assert f"{path}:{line}: variant A's template campaign_eco_wash_c is not a folder under " in (
        "\n".join(problems)
    )
    assert any(
        p.endswith(
            f"variant B's template campaign_eco_wash_b cannot send by sms: "
            f"{templates}/campaign_eco_wash_b lacks sms.txt.j2"
        )
        for p in problems
    )


def test_details_the_templates_show_must_be_in_the_campaign(tmp_path: Path) -> None:
    text = SHIPPED.read_text("utf-8").replace("    area: Amsterdam, Utrecht\n", "")
    path = write(tmp_path, "eco-wash-launch.yaml", text)

    problems = found(path)

    details = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith("  details:"))
    for template in ("campaign_eco_wash", "campaign_eco_wash_b"):
        assert (
            f"{path}:{details}: {template} does not render with this campaign (en, nl, tr, zh-TW "
            f"for prospects and customers): {template}/email.html.j2:16: undefined variable "
            "'details.area'"
        ) in problems


def test_an_sms_the_campaigns_details_make_too_long(tmp_path: Path) -> None:
    text = SHIPPED.read_text("utf-8").replace(
        'launch_day: "2026-05-25"', f'launch_day: "{"the very last Monday of May " * 6}"'
    )
    path = write(tmp_path, "eco-wash-launch.yaml", text)

    problems = found(path)

    details = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith("  details:"))
    assert (
        f"{path}:{details}: campaign_eco_wash (zh-TW, customer): SMS takes 4 segments (UCS-2, "
        "224 characters with this campaign's details); budget is 2"
    ) in problems
    assert all(p.startswith(f"{path}:{details}: ") for p in problems)


def test_an_empty_looking_audience_and_a_large_holdout_are_warnings(tmp_path: Path) -> None:
    text = (
        SHIPPED.read_text("utf-8")
        .replace("stages: [prospect, new, active, loyal]", "stages: []")
        .replace("holdout: 0.1", "holdout: 0.6")
    )
    path = write(tmp_path, "eco-wash-launch.yaml", text)

    findings = lint_campaigns([path], TEMPLATES)

    assert {f.severity for f in findings} == {WARNING}
    assert [f.message for f in findings] == [
        "audience.stages is empty: nobody is in the audience",
        "holdout 0.6: most of the audience gets nothing",
    ]
    assert main(["campaign", "lint", str(path), "--templates", str(TEMPLATES)]) == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "a campaign is a mapping of fields (id, name, send, ...)"),
        ("- id\n- name\n", "a campaign is a mapping of fields (id, name, send, ...)"),
        ("id: a\n---\nid: b\n", "not valid YAML: expected a single document in the stream"),
        ("id: [a\n", "not valid YAML: while parsing a flow sequence"),
        ("\t- x: y\n", "not valid YAML: "),
    ],
)
def test_bad_input_is_a_finding_never_a_traceback(
    tmp_path: Path, text: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.yaml", text)

    assert main(["campaign", "lint", str(tmp_path), "--templates", str(TEMPLATES)]) == 1

    out = capsys.readouterr().out
    assert out.startswith(str(path))
    assert problem in out
    (tmp_path / "bytes.yaml").write_bytes(b"\xff\xfe")
    assert "bytes.yaml: not UTF-8 text" in " ".join(found(tmp_path))


def test_every_file_in_the_folder_is_checked_each_problem_with_its_path(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "id: b\n")
    write(tmp_path, "b.yml", "id: b\nname: B\n")
    write(tmp_path, "notes.txt", "not a campaign")

    findings = lint_campaigns([tmp_path], TEMPLATES)

    assert {f.path for f in findings} == {str(tmp_path / "a.yaml"), str(tmp_path / "b.yml")}
    assert all(f.severity == ERROR for f in findings)


def test_a_missing_campaigns_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["campaign", "lint"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("lifecycle campaign lint: campaigns is not there: campaign files live")
    assert main(["campaign", "lint", "nowhere.yaml"]) == 2
    assert "nowhere.yaml: no such file or folder" in capsys.readouterr().err
