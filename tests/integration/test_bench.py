"""`make bench` keeps working: a tiny run through the same code, figures all measured."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from lifecycle.local import bench, cold_start, package_sizes
from tests.infra.test_template import FUNCTIONS


def test_bench_measures_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    figures = bench.run(messages=4, repeats=1)

    assert set(figures) == {
        "per_message",
        "bare_send",
        "handler_import",
        "boto3_import",
        "first_call",
    }
    assert all(value > 0 for value in figures.values())
    assert "batch: 4 customers -> 6 messages, 28 AWS calls" in capsys.readouterr().out


def test_bench_refuses_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="at least 2 customers"):
        bench.run(messages=1, repeats=1)


def test_deployed_figures_without_a_build_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cold_start.run(build_dir=tmp_path, repeats=1) == {}

    out = capsys.readouterr().out
    assert "Cold start as deployed: not measured. no " in out
    assert "Package sizes: not measured." in out


def test_bench_installs_the_powertools_version_the_template_pins() -> None:
    pinned = cold_start.pinned_powertools().split(".")
    installed = importlib.metadata.version("aws-lambda-powertools").split(".")
    assert pinned[:2] == installed[:2]


@pytest.mark.slow
@pytest.mark.skipif(
    not (package_sizes.BUILD_DIR / "template.yaml").is_file(), reason="no sam build output"
)
def test_bench_measures_every_function_as_deployed(capsys: pytest.CaptureFixture[str]) -> None:
    # Installs Powertools and boto3 for Python 3.13 under .aws-sam/bench the first time.
    try:
        cold_start.find_python313()
    except cold_start.Unavailable as reason:
        pytest.skip(str(reason))

    figures = cold_start.run(repeats=1)

    out = capsys.readouterr().out
    assert figures["boto3_import"] > 0
    imports = [k for k in figures if k.startswith("import:")]
    assert len(imports) == len(FUNCTIONS)
    assert figures["total_zipped"] <= package_sizes.LIMIT_BYTES
    assert "target: handler import at most 1.5x import boto3:" in out
