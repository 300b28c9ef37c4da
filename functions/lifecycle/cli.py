"""The `lifecycle` command line for marketers and ops."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.authoring.lint import Finding


def _demo(args: argparse.Namespace) -> int:
    from lifecycle.local import demo

    demo.run(Path(args.out))
    return 0


def _lint(args: argparse.Namespace) -> int:
    from lifecycle.authoring.lint import lint

    templates = Path(args.templates)
    if not templates.is_dir():
        print(f"lifecycle lint: {templates} is not a directory", file=sys.stderr)
        return 2
    try:
        findings = lint(templates)
    except Exception as exc:  # lint reports every template problem itself; this is a bug
        print(f"lifecycle lint: could not finish ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    return _report(findings, str(templates), "all templates pass", verbose=args.verbose)


def _report(findings: list[Finding], where: str, passed: str, *, verbose: bool) -> int:
    """Print lint findings one a line (notes only when verbose) and a summary; 1 on errors."""
    from lifecycle.authoring.lint import ERROR, NOTE, WARNING

    count = {kind: sum(f.severity == kind for f in findings) for kind in (ERROR, WARNING, NOTE)}
    for finding in findings:
        if finding.severity != NOTE or verbose:
            print(finding)
    summary = f"{count[ERROR]} error(s), {count[WARNING]} warning(s)"
    if count[NOTE]:
        hint = "" if verbose else " (--verbose lists them)"
        summary += f", {count[NOTE]} note(s){hint}"
    if count[ERROR]:
        print(f"{summary} in {where}", file=sys.stderr)
        return 1
    print(f"{where}: {passed}; {summary}")
    return 0


def _campaign_lint(args: argparse.Namespace) -> int:
    from lifecycle.authoring.campaigns import CampaignLintError, lint_campaigns

    paths = [Path(p) for p in args.paths]
    try:
        findings = lint_campaigns(paths, Path(args.templates))
    except CampaignLintError as error:
        print(f"lifecycle campaign lint: {error}", file=sys.stderr)
        return 2
    where = ", ".join(str(p) for p in paths)
    return _report(findings, where, "all campaign files pass", verbose=False)


def _campaign_stack(args: argparse.Namespace) -> Any:
    """The campaign commands over the deployed stack `--stack` names."""
    import boto3

    from lifecycle.campaign_control import Campaigns, StackNames

    stacks = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stacks[0].get("Parameters", [])}
    return Campaigns(boto3.client, StackNames.from_outputs(outputs, parameters))


def _campaign_file(args: argparse.Namespace) -> Any:
    from lifecycle.authoring.campaigns import load_campaign

    return load_campaign(args.file, Path(args.templates))


def _campaign_dry_run(args: argparse.Namespace) -> int:
    from lifecycle.authoring.campaigns import CampaignLintError
    from lifecycle.stages.announcements.campaign import CampaignError

    try:
        campaign = _campaign_file(args)
        if args.local:
            from lifecycle.local.campaign_run import local_dry_run

            result = local_dry_run(campaign, Path(args.templates))
        else:
            result = _campaign_stack(args).dry_run(campaign)
    except (CampaignLintError, CampaignError) as error:
        print(f"lifecycle campaign dry-run: {error}", file=sys.stderr)
        return 1
    print("\n".join(result.lines()))
    return 0


def _campaign_schedule(args: argparse.Namespace) -> int:
    from lifecycle.authoring.campaigns import CampaignLintError
    from lifecycle.stages.announcements.campaign import CampaignError

    try:
        campaign = _campaign_file(args)
        if args.local:
            from lifecycle.local.campaign_run import run_locally

            status = run_locally(campaign, Path(args.templates), progress=sys.stderr)
            print("\n".join(status.lines()))
            return 0
        start = _campaign_stack(args).schedule(campaign)
    except (CampaignLintError, CampaignError) as error:
        print(f"lifecycle campaign schedule: {error}", file=sys.stderr)
        return 1
    print(f"campaign {campaign.id} scheduled: planning starts {start:%Y-%m-%d %H:%M} UTC")
    print(f"follow it with: lifecycle campaign status {campaign.id} --stack {args.stack}")
    return 0


def _campaign_control(args: argparse.Namespace) -> int:
    from lifecycle.stages.announcements.campaign import CampaignError

    command = f"lifecycle campaign {args.action}"
    if args.local:
        print(
            f"{command}: the local stack lives in one process; `lifecycle campaign schedule "
            "--local FILE` runs a campaign to its end and prints its status, and `make demo` "
            "shows one (tests drive pause, resume and cancel over it)",
            file=sys.stderr,
        )
        return 2
    try:
        campaigns = _campaign_stack(args)
        if args.action == "status":
            status = campaigns.status(args.campaign_id)
            lines = [json.dumps(status.as_dict(), indent=2)] if args.json else status.lines()
            print("\n".join(lines))
        elif args.action == "pause":
            campaigns.pause(args.campaign_id)
            print(f"campaign {args.campaign_id} paused: senders park what they take next")
        elif args.action == "resume":
            back = campaigns.resume(args.campaign_id)
            print(f"campaign {args.campaign_id} resumed: {back} parked recipients sent on")
        else:
            dropped = campaigns.cancel(args.campaign_id)
            print(f"campaign {args.campaign_id} cancelled: {dropped} waiting recipients dropped")
    except CampaignError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 1
    return 0


def _preview(args: argparse.Namespace) -> int:
    from lifecycle.authoring.preview import render_all
    from lifecycle.authoring.samples import SampleError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        entries = render_all(Path(args.templates), out)
    except SampleError as error:
        print(f"lifecycle preview: {error}", file=sys.stderr)
        return 2
    failed = [e for e in entries if e.error]
    for entry in failed:
        print(f"{entry.spec.template} [{entry.locale}]: {entry.error}", file=sys.stderr)
    print(f"{len(entries)} renderings ({len(failed)} failed): {out / 'index.html'}")
    return 1 if failed else 0


def _send_test(args: argparse.Namespace) -> int:
    from lifecycle.authoring.samples import SampleError
    from lifecycle.authoring.send_test import SendTestError, send_test
    from lifecycle.messaging.errors import RenderError

    try:
        sent = send_test(
            args.message,
            args.to,
            locale=args.locale,
            templates_dir=Path(args.templates),
            sender=args.sender or os.environ.get("SENDER_EMAIL"),
            configuration_set=args.configuration_set,
        )
    except (SendTestError, SampleError, RenderError) as error:
        print(f"lifecycle send-test: {error}", file=sys.stderr)
        return 2
    print(f"sent {args.message} ({sent.locale}) by {sent.channel}: {sent.summary!r}")
    print(f"provider message id: {sent.provider_id}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from lifecycle.local.simulate import WorldError, simulate

    try:
        simulate(
            days=args.days,
            seed=args.seed,
            world_path=Path(args.world),
            template=Path(args.template),
            out_dir=Path(args.out),
        )
    except WorldError as error:
        print(f"lifecycle simulate: {error}", file=sys.stderr)
        return 2
    return 0


def _owners_report(args: argparse.Namespace) -> int:
    import io

    from lifecycle.reporting.gather import ReportError, ReportTables, Settings, write_report

    out_dir = Path(args.out)
    if args.local:
        from lifecycle.local.simulate import WorldError, simulate

        if args.since or args.until:
            print("lifecycle report: --local reports on the whole simulation", file=sys.stderr)
            return 2
        # The sample world's simulation, its timeline unprinted: the report is its output.
        try:
            simulate(
                days=args.days or 120,
                out=io.StringIO(),
                out_dir=out_dir / "simulate",
                report_dir=out_dir,
            )
        except WorldError as error:
            print(f"lifecycle report: {error}", file=sys.stderr)
            return 2
        target = out_dir / "report.html"
        print(f"lifecycle report: {target} ({target.stat().st_size / 1024:.0f} KiB)")
        return 0
    if args.days is not None:
        print("lifecycle report: --days is for --local", file=sys.stderr)
        return 2
    import boto3

    outputs = _outputs(args.stack)
    try:
        tables = ReportTables.from_outputs(outputs)
        written = write_report(
            boto3.client("dynamodb"),
            tables,
            Settings(
                business=outputs.get("BusinessName") or args.stack,
                open_tracking=outputs.get("OpenTracking") == "on",
                window_days=int(outputs.get("AttributionWindowDays") or 14),
                timezone=outputs.get("BusinessTimezone") or "UTC",
            ),
            source=f"stack {args.stack}",
            out_dir=out_dir,
            since=args.since,
            until=args.until,
        )
    except ReportError as error:
        print(f"lifecycle report: {error}", file=sys.stderr)
        return 2
    print(
        f"lifecycle report: {written.path} ({written.size / 1024:.0f} KiB, "
        f"built in {written.seconds:.1f} s)"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import json
    import time

    from lifecycle.local.serve import describe, running, seed
    from lifecycle.local.stack import LocalStack, local_aws

    customers = [
        c
        for c in json.loads(
            (Path(__file__).with_name("local") / "demo_customers.json").read_text("utf-8")
        )
        if "@" in c["email"] and ".at." not in c["email"]
    ]
    with local_aws():
        stack = LocalStack.deployed()
        seed(stack, customers)
        with running(stack, port=args.port) as server:
            print(describe(server, customers), flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("stopped")
    return 0


def _outputs(stack: str) -> dict[str, str]:
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _subject_requests(args: argparse.Namespace) -> Any:
    import boto3

    from lifecycle.subject_requests import SubjectRequests, Tables

    if args.stack:
        tables = Tables.from_outputs(_outputs(args.stack))
    else:
        names = (
            "CUSTOMERS_TABLE",
            "ORDERS_TABLE",
            "LEDGER_TABLE",
            "PREFERENCES_TABLE",
            "SUPPRESSIONS_TABLE",
        )
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            raise ValueError(f"give --stack, or set {', '.join(missing)}")
        customers, orders, ledger, preferences, suppressions = (os.environ[n] for n in names)
        tables = Tables(
            customers,
            orders,
            ledger,
            preferences,
            suppressions,
            ratings=os.environ.get("RATINGS_TABLE") or None,
            profiles=os.environ.get("PROFILES_TABLE") or None,
            cases=os.environ.get("CASES_TABLE") or None,
        )
    return SubjectRequests(
        boto3.client("dynamodb"), tables, progress=lambda text: print(text, file=sys.stderr)
    )


def _addresses(args: argparse.Namespace) -> dict[Any, str]:
    from lifecycle.messaging.message import Channel

    found = {}
    if args.email:
        found[Channel.EMAIL] = args.email
    if args.phone:
        found[Channel.SMS] = args.phone
    return found


def _export(args: argparse.Namespace) -> int:
    import json

    from lifecycle.subject_requests import UnknownCustomer

    out = Path(args.out) if args.out else None
    if out is not None and not out.exists():
        # An unwritable --out fails here, before the reads, rather than after them.
        out.open("x", encoding="utf-8").close()
        fresh: Path | None = out
    else:
        fresh = None
    try:
        data = _subject_requests(args).export(args.customer_id, _addresses(args))
    except BaseException as error:
        if fresh is not None:
            fresh.unlink(missing_ok=True)  # no empty file left behind
        if isinstance(error, UnknownCustomer):
            print(f"lifecycle export: {error}: nothing exported", file=sys.stderr)
            return 1
        if isinstance(error, ValueError):
            print(f"lifecycle export: {error}", file=sys.stderr)
            return 2
        raise
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
        print(f"exported {args.customer_id} to {args.out}")
    else:
        print(text)
    return 0


def _forget(args: argparse.Namespace) -> int:
    import json

    from lifecycle.subject_requests import UnknownCustomer

    if not args.yes:
        print(
            "lifecycle forget: this erases the customer from the product's tables for good; "
            "add --yes to go ahead (run lifecycle export first if they asked for a copy)",
            file=sys.stderr,
        )
        return 2
    try:
        summary = _subject_requests(args).forget(
            args.customer_id,
            _addresses(args),
            include_customer_record=args.include_customer_record,
            erase_suppressions=args.erase_suppressions,
        )
    except UnknownCustomer as unknown:
        print(f"lifecycle forget: {unknown}: nothing forgotten", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"lifecycle forget: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"forgotten": args.customer_id, **summary}, indent=2))
    print("Orders rows belong to your own systems: erase or anonymise them there.", file=sys.stderr)
    return 0


def _profile(args: argparse.Namespace) -> int:
    import boto3

    from lifecycle.profile_command import NoProfile, show

    table = _profiles_table("profile", args.stack)
    if not table:
        return 2
    try:
        print(show(boto3.client("dynamodb"), table, args.customer_id, as_json=args.json))
    except NoProfile as missing:
        print(f"lifecycle profile: {missing}", file=sys.stderr)
        return 1
    return 0


def _profiles_table(
    command: str, stack: str | None, outputs: dict[str, str] | None = None
) -> str | None:
    """The profiles table of `stack` (its `outputs`, read if not given), else PROFILES_TABLE;
    None (said why) when neither."""
    if stack:
        table = (outputs if outputs is not None else _outputs(stack)).get("ProfilesTableName")
        if not table:
            print(
                f"lifecycle {command}: stack {stack} has no profiles table (deployed before "
                "profiles were built?)",
                file=sys.stderr,
            )
        return table
    table = os.environ.get("PROFILES_TABLE")
    if not table:
        print(f"lifecycle {command}: give --stack, or set PROFILES_TABLE", file=sys.stderr)
    return table


def _retention_report(args: argparse.Namespace) -> int:
    import boto3

    from lifecycle import retention_report

    outputs = _outputs(args.stack) if args.stack else None
    table = _profiles_table("retention-report", args.stack, outputs)
    if not table:
        return 2
    # The stack's own attribution window and calendar (its outputs), else the environment's.
    found = outputs or {}
    window = args.window_days or int(
        found.get("AttributionWindowDays") or os.environ.get("STAGE_WINBACK_WINDOW_DAYS") or 14
    )
    zone = found.get("BusinessTimezone") or os.environ.get("DEFAULT_TIMEZONE") or "UTC"
    report = retention_report.build(
        boto3.client("dynamodb"), table, since=args.since, window_days=window, timezone=zone
    )
    print(retention_report.as_json(report) if args.json else retention_report.render(report))
    return 0


def _engagement(args: argparse.Namespace) -> int:
    import boto3

    from lifecycle import engagement_report

    outputs = _outputs(args.stack) if args.stack else {}
    table = outputs.get("EngagementTableName") or (
        None if args.stack else os.environ.get("ENGAGEMENT_TABLE")
    )
    if not table:
        where = f"stack {args.stack} has no engagement table" if args.stack else "give --stack"
        print(f"lifecycle engagement: {where}, or set ENGAGEMENT_TABLE", file=sys.stderr)
        return 2
    tracking = outputs.get("OpenTracking") or os.environ.get("OPEN_TRACKING") or "off"
    until = datetime.now(UTC).date()
    since = args.since or until - timedelta(days=29)
    rows = engagement_report.build(
        boto3.client("dynamodb"), table, since, until, open_tracking=tracking == "on"
    )
    render = engagement_report.as_json if args.json else engagement_report.render
    print(render(rows, since, until))
    return 0


def _cases(args: argparse.Namespace) -> int:
    from lifecycle import cases_report

    if args.local:
        from lifecycle.local.cases_run import play

        rows, since, until = play()
    else:
        import boto3

        outputs = _outputs(args.stack) if args.stack else {}
        table = outputs.get("CasesTableName") or (
            None if args.stack else os.environ.get("CASES_TABLE")
        )
        if not table:
            where = f"stack {args.stack} has no cases table" if args.stack else "give --stack"
            print(f"lifecycle cases: {where}, or set CASES_TABLE, or --local", file=sys.stderr)
            return 2
        # Weeks on the business's calendar: the stack's, else the environment's.
        zone = outputs.get("BusinessTimezone") or os.environ.get("DEFAULT_TIMEZONE") or "UTC"
        until = cases_report.today_in(zone, datetime.now(UTC))
        since = args.since or cases_report.default_since(until)
        rows = cases_report.build(boto3.client("dynamodb"), table, since, until)
    render = cases_report.as_json if args.json else cases_report.render
    print(render(rows, since, until))
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _bench(args: argparse.Namespace) -> int:
    from lifecycle.local import bench, cold_start
    from lifecycle.local.package_sizes import BUILD_DIR

    if not args.deployed_only:
        bench.run(messages=args.messages, repeats=args.repeats)
    cold_start.run(build_dir=args.build_dir or BUILD_DIR, repeats=args.repeats)
    return 0


def _bench_due(args: argparse.Namespace) -> int:
    from lifecycle.local import bench_due

    try:
        results = bench_due.run(
            args.profiles,
            args.due_share,
            load=args.load,
            seed=args.seed,
            out=sys.stdout,
            progress=sys.stderr,
        )
    except ValueError as error:
        print(f"lifecycle bench-due: {error}", file=sys.stderr)
        return 2
    return 0 if all(figures.met for figures in results) else 1


def _bench_import(args: argparse.Namespace) -> int:
    from lifecycle.local import bench_import

    return bench_import.run(args.endpoints)


def _bench_campaign(args: argparse.Namespace) -> int:
    from lifecycle.local import bench_campaign

    try:
        figures = bench_campaign.run(
            args.recipients,
            ses_rate=args.ses_rate,
            rate_share=args.rate_share,
            senders=args.senders,
            latency=(args.latency_ms[0] / 1000, args.latency_ms[1] / 1000),
            welcome_rate=args.welcome_rate,
            seed=args.seed,
            out=sys.stdout,
            progress=sys.stderr,
        )
    except ValueError as error:
        print(f"lifecycle bench-campaign: {error}", file=sys.stderr)
        return 2
    return 0 if figures.met else 1


def _faults(args: argparse.Namespace) -> int:
    from lifecycle.local import faults

    return faults.main(args)


def _replay(args: argparse.Namespace) -> int:
    from lifecycle.replay_command import run

    return run(args)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="lifecycle", description="Customer-lifecycle messaging: local tools."
    )
    commands = root.add_subparsers(dest="command", required=True)

    from lifecycle.local.stack import TEMPLATE

    simulate = commands.add_parser(
        "simulate",
        help="play a sample world through the whole lifecycle over moto (no AWS account)",
    )
    simulate.add_argument("--days", type=int, default=120, help="simulated days (default 120)")
    simulate.add_argument("--seed", type=int, default=7, help="random seed for orders")
    simulate.add_argument(
        "--world",
        default=str(Path(__file__).with_name("local") / "simulation.json"),
        help="sample world: customers, orders, mailboxes",
    )
    simulate.add_argument("--template", default=str(TEMPLATE), help="SAM template to wire from")
    simulate.add_argument("--out", default="out/simulate", help="where emails and logs go")
    simulate.set_defaults(run=_simulate)

    demo = commands.add_parser(
        "welcome-demo",
        help="walk through the welcome stage: partial batch failure, retry, replay",
    )
    demo.add_argument("--out", default="out/demo", help="where rendered emails are written")
    demo.set_defaults(run=_demo)

    lint = commands.add_parser(
        "lint", help="check every template: syntax, variables, parts, links, SMS length"
    )
    lint.add_argument("templates", nargs="?", default="templates", help="templates folder")
    lint.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also list notes (SMS that are UCS-2 because their language needs it)",
    )
    lint.set_defaults(run=_lint)

    _campaign_parser(commands)
    _import_parser(commands)

    preview = commands.add_parser(
        "preview", help="render every message in every locale into an HTML gallery"
    )
    preview.add_argument("--templates", default="templates", help="templates folder")
    preview.add_argument("--out", default="out/preview", help="where the gallery is written")
    preview.set_defaults(run=_preview)

    send = commands.add_parser(
        "send-test",
        help="send one message, rendered with sample data, through your AWS account",
        description="Uses the usual AWS settings (AWS_PROFILE, AWS_REGION). The subject or SMS "
        "starts with [TEST]; emails carry an X-Lifecycle-Test header.",
    )
    send.add_argument("message", help="message name, e.g. welcome")
    send.add_argument("--to", required=True, help="an email address or an E.164 phone number")
    send.add_argument("--locale", help="e.g. nl-NL (default: English)")
    send.add_argument("--sender", help="verified SES sender (default: $SENDER_EMAIL)")
    send.add_argument("--configuration-set", help="SES configuration set to send with")
    send.add_argument("--templates", default="templates", help="templates folder")
    _calls_aws(send)
    send.set_defaults(run=_send_test)

    serve = commands.add_parser(
        "serve", help="run the preference centre locally over moto, and print signed links"
    )
    serve.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1")
    serve.set_defaults(run=_serve)

    for name, text in (
        ("export", "print everything the product holds on a customer, as JSON"),
        ("forget", "erase a customer from the product's tables, keeping only counts"),
    ):
        request = commands.add_parser(name, help=text)
        request.add_argument("customer_id")
        request.add_argument("--stack", help="CloudFormation stack name (else *_TABLE variables)")
        request.add_argument("--email", help="their address, if the Customers row is gone")
        request.add_argument("--phone", help="their number, if the Customers row is gone")
        _calls_aws(request)
        if name == "export":
            request.add_argument("--out", help="write to this file instead of stdout")
            request.set_defaults(run=_export)
        else:
            request.add_argument("--yes", action="store_true", help="really erase")
            request.add_argument(
                "--include-customer-record",
                action="store_true",
                help="also delete the customer's row in the Customers table",
            )
            request.add_argument(
                "--erase-suppressions",
                action="store_true",
                help="also erase bounce and complaint suppressions of their addresses "
                "(they could then be mailed again)",
            )
            request.set_defaults(run=_forget)

    profile = commands.add_parser(
        "profile", help="a customer's profile (orders, spend, points, tier) and stage history"
    )
    profile.add_argument("customer_id")
    profile.add_argument("--stack", help="CloudFormation stack name (else PROFILES_TABLE)")
    profile.add_argument("--json", action="store_true", help="print the stored items as JSON")
    profile.set_defaults(run=_profile)
    _calls_aws(profile)

    report = commands.add_parser(
        "retention-report",
        help="per win-back step and reward programme: sent, orders attributed, conversion "
        "and lift over the holdout, with 95%% intervals, and revenue",
    )
    report.add_argument("--stack", help="CloudFormation stack name (else PROFILES_TABLE)")
    report.add_argument(
        "--since",
        type=_day,
        help="count exposures from this day of the business's calendar (YYYY-MM-DD; default all)",
    )
    report.add_argument(
        "--window-days",
        type=int,
        help="the attribution window (default: the stack's AttributionWindowDays, else "
        "STAGE_WINBACK_WINDOW_DAYS, else 14)",
    )
    report.add_argument("--json", action="store_true", help="print the figures as JSON")
    report.set_defaults(run=_retention_report)
    _calls_aws(report)

    owner = commands.add_parser(
        "report",
        help="the owner's report: one HTML page of charts and tables (messages, rates, "
        "unsubscribes and churn, stages, feedback, complaints, win-back, campaigns, "
        "lifetime value)",
    )
    where = owner.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="CloudFormation stack name")
    where.add_argument(
        "--local",
        action="store_true",
        help="run the sample world's simulation over moto and report on it",
    )
    owner.add_argument(
        "--since", type=_day, help="the first day (UTC, YYYY-MM-DD; default: 90 days ago)"
    )
    owner.add_argument("--until", type=_day, help="the last day (UTC; default: yesterday)")
    owner.add_argument("--days", type=int, help="with --local: simulated days (default 120)")
    owner.add_argument("--out", default="out/report", help="folder for report.html")
    owner.set_defaults(run=_owners_report)
    _calls_aws(owner)

    engagement = commands.add_parser(
        "engagement",
        help="per stage, campaign and variant: emails sent and delivered, delivery, bounce, "
        "complaint, open and click rates, and actions per engagement",
    )
    engagement.add_argument("--stack", help="CloudFormation stack name (else ENGAGEMENT_TABLE)")
    engagement.add_argument(
        "--since",
        type=_day,
        help="emails sent from this day on (UTC, YYYY-MM-DD; default: the last 30 days)",
    )
    engagement.add_argument("--json", action="store_true", help="print the figures as JSON")
    engagement.set_defaults(run=_engagement)
    _calls_aws(engagement)

    cases = commands.add_parser(
        "cases",
        help="complaint cases per week of alert: alerts, acknowledged, resolved, escalated, "
        "still open, and median and 90th percentile hours to acknowledge and to resolve",
    )
    target = cases.add_mutually_exclusive_group()
    target.add_argument("--stack", help="CloudFormation stack name (else CASES_TABLE)")
    target.add_argument(
        "--local",
        action="store_true",
        help="a fresh local stack over moto (in this process): plays four sample complaints "
        "through the follow-up, case page and escalation functions, then reports them",
    )
    cases.add_argument(
        "--since",
        type=_day,
        help="weeks from the one holding this day (YYYY-MM-DD, the business's calendar; "
        "default: this week and the seven before)",
    )
    cases.add_argument("--json", action="store_true", help="print the figures as JSON")
    cases.set_defaults(run=_cases)
    _calls_aws(cases)

    bench = commands.add_parser(
        "bench",
        help="per-message cost of the welcome path with AWS calls stubbed; cold start and"
        " package sizes as deployed",
    )
    bench.add_argument("--messages", type=int, default=500, help="customers per run")
    bench.add_argument("--repeats", type=int, default=5, help="runs to take the median of")
    bench.add_argument(
        "--build-dir",
        type=Path,
        help="sam build output to measure as deployed (default: .aws-sam/build)",
    )
    bench.add_argument(
        "--deployed-only",
        action="store_true",
        help="only the figures from the sam build output (imports as deployed, sizes)",
    )
    bench.set_defaults(run=_bench)

    bench_due = commands.add_parser(
        "bench-due",
        help="the daily run (planner and worker) at 100,000 and 1,000,000 profiles over moto:"
        " items read per customer due, time per 1,000 due, AWS calls per message",
    )
    bench_due.add_argument(
        "--profiles", type=int, nargs="+", default=[100_000, 1_000_000], help="table sizes"
    )
    bench_due.add_argument(
        "--due-share", type=float, default=0.01, help="share of profiles due today (0.01)"
    )
    bench_due.add_argument(
        "--load",
        choices=["auto", "boto3", "moto"],
        default="auto",
        help="how profiles are written: boto3 batch_write_item, straight into moto's table,"
        " or auto: boto3 up to 100,000 profiles, else the first 10,000 (to time it) then moto",
    )
    bench_due.add_argument("--seed", type=int, default=7, help="seed for the profiles")
    bench_due.set_defaults(run=_bench_due)

    from lifecycle.local.bench_campaign import DEFAULT_SES_RATE

    bench_campaign = commands.add_parser(
        "bench-campaign",
        help="a campaign through the real planner, queues and senders over moto, against a"
        " stand-in SES that enforces its rate: achieved rate, throttling, AWS calls per"
        " recipient, planner time, welcome latency beside it",
    )
    bench_campaign.add_argument(
        "--recipients", type=int, default=100_000, help="customers in the base (100,000)"
    )
    bench_campaign.add_argument(
        "--ses-rate",
        type=float,
        default=DEFAULT_SES_RATE,
        help=f"the stand-in SES's sending rate per second ({DEFAULT_SES_RATE:g}: what this"
        " machine's moto keeps up with)",
    )
    bench_campaign.add_argument(
        "--rate-share",
        type=float,
        help="CampaignRateShare: the campaigns' share of the SES rate (default: the template's)",
    )
    bench_campaign.add_argument(
        "--senders",
        type=int,
        help="concurrent senders (default: the template's CampaignSenderConcurrency, no more"
        " than keep a page within half the sender's timeout)",
    )
    bench_campaign.add_argument(
        "--latency-ms",
        type=float,
        nargs=2,
        default=[30.0, 60.0],
        metavar=("LOW", "HIGH"),
        help="the stand-in SES's latency, uniform between these (30 60)",
    )
    bench_campaign.add_argument(
        "--welcome-rate", type=float, default=2.0, help="welcome emails a second beside it (2)"
    )
    bench_campaign.add_argument("--seed", type=int, default=7, help="seed for the base")
    bench_campaign.set_defaults(run=_bench_campaign)

    bench_import = commands.add_parser(
        "bench-import",
        help="the Pinpoint import of a made-up export over moto: time, DynamoDB requests and"
        " items written per customer, for a dry run, the import and a re-import",
    )
    bench_import.add_argument(
        "--endpoints", type=int, default=100_000, help="endpoints in the export (100,000)"
    )
    bench_import.set_defaults(run=_bench_import)

    chaos = commands.add_parser(
        "faults",
        help="drive the stream handlers through injected faults over moto; print expected, "
        "sent, lost and duplicated messages",
    )
    chaos.add_argument("--customers", type=int, default=60, help="customers in the workload")
    chaos.add_argument("--rate", type=float, default=0.1, help="share of AWS calls that fail (0-1)")
    chaos.add_argument("--seed", type=int, default=7, help="seed for the workload and faults")
    chaos.set_defaults(run=_faults)

    replay = commands.add_parser(
        "replay",
        help="drive parked stream batches (failure-queue messages) through their function again",
    )
    replay.add_argument("--stack", required=True, help="CloudFormation stack name")
    replay.add_argument(
        "--message",
        type=Path,
        help="one failure-queue message body saved to a file (default: read the stack's "
        "stream failure queues)",
    )
    replay.add_argument("--limit", type=int, default=100, help="most messages to replay")
    replay.add_argument(
        "--dry-run", action="store_true", help="say what would be replayed; invoke nothing"
    )
    replay.set_defaults(run=_replay)
    _calls_aws(replay)
    return root


def _import_parser(commands: Any) -> None:
    """`lifecycle import pinpoint`: what a Pinpoint application left, into this product."""
    command = commands.add_parser("import", help="import from another system: pinpoint")
    sources = command.add_subparsers(dest="source", required=True, metavar="SOURCE")
    pinpoint = sources.add_parser(
        "pinpoint",
        help="Amazon Pinpoint: endpoints and opt-outs, templates, campaign settings",
        description="Reads a Pinpoint export (a folder or s3://bucket/prefix: the export "
        "job's *.gz files, and templates/, campaigns/, journeys/, segments/ of JSON "
        "responses) and writes customers, opt-outs, templates and campaign files. Run it "
        "with --dry-run first: it prints what would be written and every problem. Re-running "
        "the same export changes nothing. See the README, 'Moving from Amazon Pinpoint'.",
    )
    pinpoint.add_argument(
        "--from", dest="source_at", required=True, metavar="DIR_OR_S3", help="the export"
    )
    pinpoint.add_argument("--mapping", type=Path, help="the mapping file (YAML or JSON)")
    pinpoint.add_argument(
        "--dry-run", action="store_true", help="write nothing; tell what would be"
    )
    pinpoint.add_argument(
        "--templates",
        help="templates folder to write (default: templates; with --local, a folder under out/)",
    )
    pinpoint.add_argument(
        "--campaigns",
        help="campaign files folder (default: campaigns; with --local, a folder under out/)",
    )
    pinpoint.add_argument(
        "--problems", type=Path, help="write every problem to this file (the report shows a few)"
    )
    pinpoint.add_argument(
        "--link",
        help="the https link the campaign files get (Pinpoint's campaigns have none; "
        "without it the files get a placeholder, reported to review)",
    )
    target = pinpoint.add_mutually_exclusive_group()
    target.add_argument(
        "--stack",
        help="CloudFormation stack name (else CUSTOMERS_TABLE and PREFERENCES_TABLE)",
    )
    target.add_argument(
        "--local",
        action="store_true",
        help="a fresh local stack over moto (in this process): imports, then plays the "
        "Customers stream to the welcome stage and reports what it did",
    )
    pinpoint.add_argument("--quiet", action="store_true", help="no progress bar")
    _calls_aws(pinpoint)
    pinpoint.set_defaults(run=_import_pinpoint)


def _import_pinpoint(args: argparse.Namespace) -> int:
    import time

    from lifecycle.pinpoint import importer
    from lifecycle.pinpoint.mapping import MappingError, load

    progress = None if args.quiet else sys.stderr
    started = time.perf_counter()
    if args.local:
        # A local run never writes into the repository's own folders unless told to.
        local = Path("out/pinpoint-import")
        args.templates = args.templates or str(local / "templates")
        args.campaigns = args.campaigns or str(local / "campaigns")
    args.templates = args.templates or "templates"
    args.campaigns = args.campaigns or "campaigns"
    try:
        mapping = load(args.mapping)

        def run(source: importer.Source, writer: importer.CustomerWriter) -> importer.ImportReport:
            templates, campaigns = Path(args.templates), Path(args.campaigns)
            return importer.run(source, mapping, writer, templates, campaigns, progress, args.link)

        if args.local:
            from lifecycle.local.pinpoint_run import import_locally

            if args.source_at.startswith("s3://"):
                raise importer.PinpointImportError(
                    "--local imports into a fresh local stack, which has no S3 bucket: give a "
                    "folder (or --stack for an S3 prefix)"
                )

            report, after = import_locally(args.source_at, args.dry_run, run)
        else:
            import boto3

            source = importer.open_source(args.source_at, lambda: boto3.client("s3"))
            if args.stack:
                tables = importer.Tables.from_outputs(_outputs(args.stack))
            else:
                tables = importer.Tables.from_environment(dict(os.environ))
            writer = importer.CustomerWriter(boto3.client("dynamodb"), tables, args.dry_run)
            report, after = run(source, writer), []
    except (MappingError, importer.PinpointImportError) as error:
        print(f"lifecycle import pinpoint: {error}", file=sys.stderr)
        return 1
    report.seconds = time.perf_counter() - started
    print("\n".join([*report.summary(), *after]))
    if not args.dry_run and (report.templates or report.campaigns):
        print(f"  written to {args.templates}/ and {args.campaigns}/")
    if args.problems:
        lines = "".join(f"{p.kind}\t{p.line()}\n" for p in report.problems)
        args.problems.write_text(lines, encoding="utf-8")
        print(f"  every problem: {args.problems}")
    return 0


def _campaign_parser(commands: Any) -> None:
    """`lifecycle campaign <action>`: the campaign files under campaigns/ (one action a
    sub-command)."""
    campaign = commands.add_parser("campaign", help="announcement campaigns: check campaign files")
    actions = campaign.add_subparsers(dest="action", required=True, metavar="ACTION")

    lint = actions.add_parser(
        "lint",
        help="check campaign files: fields, ids, templates, renders in every locale",
        description="Checks each campaigns/*.yaml (or the files named): valid YAML and "
        "campaign fields, the id is the file's name, each variant's template folder can send "
        "by the campaign's channels and renders in every locale with the campaign's link and "
        "details. One `file:line: problem` line each; exit status 1 on any error.",
    )
    lint.add_argument(
        "paths",
        nargs="*",
        default=["campaigns"],
        metavar="PATH",
        help="campaign files or folders of them (default: campaigns)",
    )
    lint.add_argument("--templates", default="templates", help="templates folder")
    lint.set_defaults(run=_campaign_lint)

    def where(command: argparse.ArgumentParser) -> None:
        target = command.add_mutually_exclusive_group(required=True)
        target.add_argument("--stack", help="CloudFormation stack name (a deployed stack)")
        target.add_argument(
            "--local",
            action="store_true",
            help="the local stack over moto, with the sample customers (it lives in this "
            "process: schedule runs the campaign to its end)",
        )
        _calls_aws(command)

    dry = actions.add_parser(
        "dry-run",
        help="who a campaign would reach now, by locale, channel, variant and skip reason; "
        "sends nothing",
    )
    dry.add_argument("file", type=Path, help="the campaign file")
    dry.add_argument("--templates", default="templates", help="templates folder")
    where(dry)
    dry.set_defaults(run=_campaign_dry_run)

    schedule = actions.add_parser(
        "schedule", help="store a campaign file and create its schedule (once per campaign id)"
    )
    schedule.add_argument("file", type=Path, help="the campaign file")
    schedule.add_argument("--templates", default="templates", help="templates folder")
    where(schedule)
    schedule.set_defaults(run=_campaign_schedule)

    for action, text in (
        ("pause", "pause a campaign (senders park their pages within one page)"),
        ("resume", "resume a paused campaign (its parked pages are sent on)"),
        ("cancel", "cancel a campaign, also while it sends (within one page)"),
        ("status", "sent, skipped by reason, failed, held out, remaining, rate so far"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("campaign_id")
        if action == "status":
            command.add_argument("--json", action="store_true", help="print the figures as JSON")
        where(command)
        command.set_defaults(run=_campaign_control, action=action)


def _calls_aws(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--region", help="AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's)"
    )
    command.set_defaults(aws=True)


@contextmanager
def _region(explicit: str | None) -> Iterator[None]:
    """--region, else AWS_REGION (as the AWS CLI and the other SDKs read it; boto3 reads only
    AWS_DEFAULT_REGION), else AWS_DEFAULT_REGION or the profile's, for this command only."""
    chosen = explicit or os.environ.get("AWS_REGION")
    before = os.environ.get("AWS_DEFAULT_REGION")
    if chosen:
        os.environ["AWS_DEFAULT_REGION"] = chosen
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = before


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from, through AWS's and the adapters' own errors only
    (the adapters wrap boto3's errors in theirs). A bug raised while handling an AWS error is
    not followed to it: it stays a bug, with its traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lifecycle.messaging.errors import PermanentError, TransientError

    seen: BaseException | None = error
    while seen is not None:
        yield seen
        if not isinstance(seen, BotoCoreError | ClientError | PermanentError | TransientError):
            return
        seen = seen.__cause__ or seen.__context__


def _aws_problem(error: Exception, args: argparse.Namespace) -> str | None:
    """One line for what went wrong around an AWS command, or None for a bug (a traceback)."""
    import boto3
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    from lifecycle.messaging.errors import PermanentError, TransientError
    from lifecycle.privacy import redact

    for cause in _causes(error):
        if isinstance(cause, ParamValidationError):
            return None  # the code called boto3 wrongly: a bug, not the environment
        if isinstance(cause, NoRegionError):
            return "no AWS region configured: pass --region, or set AWS_REGION"
        if isinstance(cause, NoCredentialsError | PartialCredentialsError):
            return "no AWS credentials found: set AWS_PROFILE, or configure credentials"
        if isinstance(cause, ProfileNotFound):
            return f"AWS profile {os.environ.get('AWS_PROFILE', '')!r} not found"
        if isinstance(cause, EndpointConnectionError):
            return f"cannot reach AWS: {cause}"
        if isinstance(cause, ClientError):
            code = str(cause.response.get("Error", {}).get("Code", "Unknown"))
            message = redact(str(cause.response.get("Error", {}).get("Message", "")))
            stack_call = cause.operation_name in ("DescribeStacks", "DescribeStackResources")
            if stack_call and "does not exist" in message:
                region = boto3.Session().region_name
                return f"no stack named {args.stack!r} in {region}"
            if code in _REFUSED_CREDENTIALS:
                return f"AWS refused the credentials ({code}): {message}"
            if code == "ResourceNotFoundException":
                return f"{message} (check --stack or the *_TABLE variables, and the region)"
            return f"AWS answered {code} to {cause.operation_name}: {message}"
        if isinstance(cause, BotoCoreError):
            return f"AWS: {redact(str(cause))}"
    if isinstance(error, PermanentError | TransientError):
        return f"the provider refused it: {error}"
    if isinstance(error, OSError) and error.filename is not None:
        verb = "cannot write" if error.filename == getattr(args, "out", None) else "cannot use"
        return f"{verb} {error.filename}: {error.strerror}"
    return None


_REFUSED_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)


def _run(args: argparse.Namespace) -> int:
    """Run a command. One that calls AWS runs in its region, and a failure of its environment
    (region, credentials, stack, permissions, the output file) is one line and exit 1."""
    if not getattr(args, "aws", False):
        result: int = args.run(args)
        return result
    try:
        with _region(args.region):
            result = args.run(args)
            return result
    except Exception as error:
        problem = _aws_problem(error, args)
        if problem is None:
            raise
        print(f"lifecycle {args.command}: {problem}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    return _run(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
