"""`make demo` runs the main job: check what it prints and writes, as a newcomer would see it."""

from __future__ import annotations

import io
from pathlib import Path

from lifecycle.local import demo


def test_demo_reports_sent_skipped_and_rejected_and_writes_the_emails(tmp_path: Path) -> None:
    out = io.StringIO()

    sent = demo.run(tmp_path, out)

    report = out.getvalue()
    assert sent == 8
    # Sanne's record (the second) fails: it and every later record come back (ordered stream)
    assert "WelcomeFunction: batch of 7 record(s) -> 6 reported in batchItemFailures" in report
    assert "retry of 6 record(s) -> all processed" in report
    assert 'SENT      s***@example.nl  "Welkom bij Fresh Fold Laundry, Sanne!"' in report
    assert "SKIPPED   no consent: sms_transactional" in report
    assert "REJECTED  email: not a valid email address" in report
    assert "messages sent by the replay: 0 email, 0 SMS" in report
    # addresses are masked in the report
    assert "sanne.devries@example.nl" not in report
    assert "+31612345678" not in report
    html = (tmp_path / "c-1003-welcome.html").read_text(encoding="utf-8")
    assert '<html lang="zh-TW">' in html
    assert "&lt;b&gt;Bobby&lt;/b&gt;" in (tmp_path / "c-1006-welcome.html").read_text("utf-8")
    assert "c-1001-welcome.html" in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert (tmp_path / "lambda-logs.jsonl").stat().st_size > 0
