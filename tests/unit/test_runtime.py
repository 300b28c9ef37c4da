from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lifecycle.messaging.catalog import CATALOG
from lifecycle.platform.composition import check_templates
from lifecycle.platform.settings import SettingsError
from tests.conftest import ROOT

SPECS = tuple(CATALOG.values())


def test_shipped_templates_are_complete() -> None:
    check_templates(ROOT / "templates", SPECS)


def test_cold_start_fails_clearly_without_the_templates(tmp_path: Path) -> None:
    # /opt without the templates layer holds other layers, but no templates
    (tmp_path / "python").mkdir()

    with pytest.raises(SettingsError) as raised:
        check_templates(tmp_path, SPECS)

    assert "_layouts/email.html.j2" in str(raised.value)
    assert "welcome/sms.txt.j2" in str(raised.value)


def test_cold_start_names_a_renamed_part(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "t")
    (tmp_path / "t" / "welcome" / "email.txt.j2").rename(tmp_path / "t" / "welcome" / "text.j2")

    with pytest.raises(SettingsError, match=r"welcome/email\.txt\.j2"):
        check_templates(tmp_path / "t", SPECS)
