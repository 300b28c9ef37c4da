"""Headless Chromium from Debian's package, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not executable:
        # Install it where this machine can (root with apt-get), as `make browser` does.
        script = Path(__file__).with_name("install-chromium.sh")
        note = subprocess.run(  # noqa: S603 - our own script
            [str(script)], capture_output=True, text=True, check=False
        ).stdout.strip()
        executable = shutil.which("chromium")
        if not executable:
            pytest.skip(note or "Chromium could not be installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
