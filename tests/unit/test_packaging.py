"""A function package is the deployed part of `lifecycle` with bytecode, and the checks on the
built packages catch what must not ship."""

from __future__ import annotations

import py_compile
import shutil
import sys
from pathlib import Path

import pytest

from lifecycle.local import package_sizes, packaging
from lifecycle.local.package_sizes import Package, problems
from tests.conftest import ROOT

CACHE_TAG = sys.implementation.cache_tag


def _write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _source(tmp_path: Path) -> Path:
    """A functions/ folder like the real one, with what a working checkout accumulates."""
    source = tmp_path / "functions"
    package = source / "lifecycle"
    _write(package / "__init__.py")
    _write(package / "runtime.py", "import json\n")
    _write(package / "stages" / "welcome" / "handler.py", "def handler(e, c): return e\n")
    _write(package / "stages" / "welcome" / "data.json", "{}")
    _write(package / "local" / "stack.py")
    _write(package / "authoring" / "lint.py")
    _write(package / "cli.py")
    _write(package / "subject_requests.py")
    _write(package / "__pycache__" / "runtime.cpython-39.pyc", "stale")
    _write(source / "lifecycle.egg-info" / "PKG-INFO")
    _write(source / "Makefile")
    return source


def test_function_package_is_the_package_tree_minus_the_cli_only_parts(tmp_path: Path) -> None:
    # given a source tree with modules the packaging has never heard of, and CLI-only parts
    source, artifacts = _source(tmp_path), tmp_path / "artifacts"

    # when the function package is built
    packaging.build_function(source, artifacts)

    # then it holds the whole tree but the CLI-only parts and stale bytecode, and compiled it
    shipped = {p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*") if p.is_file()}
    assert shipped == {
        "lifecycle/__init__.py",
        "lifecycle/runtime.py",
        "lifecycle/stages/welcome/handler.py",
        "lifecycle/stages/welcome/data.json",
        f"lifecycle/__pycache__/__init__.{CACHE_TAG}.pyc",
        f"lifecycle/__pycache__/runtime.{CACHE_TAG}.pyc",
        f"lifecycle/stages/welcome/__pycache__/handler.{CACHE_TAG}.pyc",
    }


def test_function_bytecode_survives_new_timestamps(tmp_path: Path) -> None:
    packaging.build_function(_source(tmp_path), tmp_path / "artifacts")

    pyc = tmp_path / "artifacts" / "lifecycle" / "__pycache__" / f"runtime.{CACHE_TAG}.pyc"
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, source never checked (PEP 552)


def test_the_real_package_builds_and_passes_the_checks(tmp_path: Path) -> None:
    # The interpreter running the tests (3.11 or later) compiles every deployed module.
    artifacts = tmp_path / "WelcomeFunction"
    packaging.build_function(ROOT / "functions", artifacts)

    package = Package("WelcomeFunction", "function", artifacts, built=True)
    _retag(package)
    assert problems([package]) == []
    for entry in packaging.CLI_ONLY:
        assert not (artifacts / "lifecycle" / entry).exists()


def test_a_rebuild_replaces_the_previous_package(tmp_path: Path) -> None:
    source, artifacts = _source(tmp_path), tmp_path / "artifacts"
    packaging.build_function(source, artifacts)
    (source / "lifecycle" / "runtime.py").unlink()

    packaging.build_function(source, artifacts)

    assert not (artifacts / "lifecycle" / "runtime.py").exists()


def test_packaging_refuses_another_python_than_the_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(packaging, "RUNTIME", (3, 99))

    status = packaging.main(["function", "--source", str(_source(tmp_path)), str(tmp_path / "a")])

    assert status == 1
    assert "needs Python 3.99" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


# ---------------------------------------------------------------- checks on built packages
def _built_function(tmp_path: Path) -> Package:
    artifacts = tmp_path / "Fn"
    packaging.build_function(_source(tmp_path), artifacts)
    return Package("Fn", "function", artifacts, built=True)


def _retag(package: Package) -> None:
    """Name the test interpreter's bytecode as the runtime's, as if 3.13 had compiled it."""
    for pyc in package.path.rglob(f"*.{CACHE_TAG}.pyc"):
        pyc.rename(pyc.with_name(pyc.name.replace(CACHE_TAG, package_sizes.CACHE_TAG)))


def test_a_clean_function_package_passes(tmp_path: Path) -> None:
    package = _built_function(tmp_path)
    _retag(package)

    assert problems([package]) == []


def test_cli_only_code_in_a_function_package_is_caught(tmp_path: Path) -> None:
    package = _built_function(tmp_path)
    _retag(package)
    shutil.copy(tmp_path / "functions" / "lifecycle" / "cli.py", package.path / "lifecycle")
    _write(package.path / "jinja2" / "__init__.py")

    found = problems([package])

    assert "Fn: ships lifecycle/cli.py, which is CLI-only" in found
    assert "Fn: holds ['jinja2'] besides the lifecycle package" in found


def test_a_deployed_module_importing_cli_only_code_is_caught(tmp_path: Path) -> None:
    package = _built_function(tmp_path)
    handler = package.path / "lifecycle" / "runtime.py"
    handler.write_text(
        "from typing import TYPE_CHECKING\n"
        "from lifecycle import cli\n"
        "if TYPE_CHECKING:\n"
        "    from lifecycle.authoring import lint\n"
        "def later():\n"
        "    import lifecycle.local.stack\n",
        encoding="utf-8",
    )
    packaging.compile_tree(package.path, "/var/task")
    _retag(package)

    found = problems([package])

    assert found == [
        "Fn: lifecycle/runtime.py imports lifecycle.cli, which is not deployed",
        "Fn: lifecycle/runtime.py imports lifecycle.local.stack, which is not deployed",
    ]


def test_modules_without_runtime_bytecode_are_caught(tmp_path: Path) -> None:
    package = _built_function(tmp_path)
    _retag(package)
    pycache = package.path / "lifecycle" / "__pycache__"
    (pycache / f"runtime.{package_sizes.CACHE_TAG}.pyc").unlink()
    py_compile.compile(
        str(package.path / "lifecycle" / "__init__.py"),
        cfile=str(pycache / f"__init__.{package_sizes.CACHE_TAG}.pyc"),
        invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
    )  # what a plain compileall writes

    found = problems([package])

    assert found == [
        "Fn: lifecycle/__init__.py: bytecode is not unchecked-hash (flags 0)",
        "Fn: lifecycle/runtime.py: no bytecode",
    ]


def _elf(path: Path, machine: int) -> None:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"  # 64-bit, little-endian
    header[18:20] = machine.to_bytes(2, "little")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(header))


def test_layer_native_code_must_be_arm64_for_the_runtime_python(tmp_path: Path) -> None:
    site = tmp_path / "Layer" / "python"
    _elf(site / "fast" / "_ok.cpython-313-aarch64-linux-gnu.so", package_sizes.ELF_AARCH64)
    _elf(site / "fast" / "_x86.cpython-313-x86_64-linux-gnu.so", 62)
    _elf(site / "fast" / "_old.cpython-311-aarch64-linux-gnu.so", package_sizes.ELF_AARCH64)
    _write(site / "boto3" / "__init__.py")
    packaging.compile_tree(site, "/opt/python")
    _retag(Package("Layer", "layer", tmp_path / "Layer", built=True))

    found = problems([Package("Layer", "layer", tmp_path / "Layer", built=True)])

    assert sorted(found) == [
        "Layer: python/fast/_old.cpython-311-aarch64-linux-gnu.so: built for another Python"
        f" than {package_sizes.CACHE_TAG}",
        "Layer: python/fast/_x86.cpython-313-x86_64-linux-gnu.so: native code for ELF machine"
        " 62, not arm64",
        "Layer: ships boto3, which Lambda provides",
    ]


def test_layers_copied_as_they_are_are_not_checked(tmp_path: Path) -> None:
    _write(tmp_path / "templates" / "python" / "welcome.j2")

    assert problems([Package("TemplatesLayer", "layer", tmp_path / "templates", False)]) == []


def test_sizes_are_reported_from_the_built_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "build"
    _write(build / "Fn" / "lifecycle" / "__init__.py", "x = 1\n" * 1000)
    _write(build / "Deps" / "python" / "dep.py", "y = 2\n")
    _write(tmp_path / "templates" / "a.j2", "hello")
    _write(
        build / "template.yaml",
        "Resources:\n"
        "  Fn: {Type: AWS::Serverless::Function, Properties: {CodeUri: Fn, Handler: a.b}}\n"
        "  Deps: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: Deps}}\n"
        "  Tpl: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: ../templates}}\n"
        "  Table: {Type: AWS::DynamoDB::Table}\n",
    )

    rows, total = package_sizes.report(build)

    assert [(p.name, p.kind, p.built) for p, _, _ in rows] == [
        ("Fn", "function", True),
        ("Deps", "layer", True),
        ("Tpl", "layer", False),
    ]
    assert rows[0][1] == 6000
    assert 0 < rows[0][2] < 6000  # deflated
    assert total == sum(zipped for _, _, zipped in rows)
    assert "target: at most 25.00 MB zipped in all: met" in capsys.readouterr().out


def test_no_build_is_a_clear_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert package_sizes.main(["--build-dir", str(tmp_path)]) == 1
    assert "run `make build` first" in capsys.readouterr().err
