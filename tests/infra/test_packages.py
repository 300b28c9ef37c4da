"""What `sam build` made (when it has run: `make test` builds first) is what a deploy should
upload: lean function packages, one dependencies layer for the runtime, bytecode everywhere."""

from __future__ import annotations

import pytest

from lifecycle.local import package_sizes
from lifecycle.local.stack import load_template
from lifecycle.messaging.catalog import SUPPORTED_LOCALES
from tests.infra.test_template import FUNCTIONS

BUILT = package_sizes.BUILD_DIR / "template.yaml"

pytestmark = pytest.mark.skipif(not BUILT.is_file(), reason="no sam build output: make build")


def test_built_packages_hold_only_what_they_should() -> None:
    assert package_sizes.problems(package_sizes.packages()) == []


def test_every_function_in_the_template_was_built() -> None:
    built = {p.name for p in package_sizes.packages() if p.kind == "function"}
    assert built == set(FUNCTIONS), "stale build: run make build"


def test_dependencies_layer_has_pydantic_core_for_lambda_arm64_python_313() -> None:
    site = package_sizes.BUILD_DIR / "DependenciesLayer" / "python"
    (native,) = (site / "pydantic_core").glob("_pydantic_core.*.so")
    assert native.name == "_pydantic_core.cpython-313-aarch64-linux-gnu.so"
    assert package_sizes.elf_machine(native) == package_sizes.ELF_AARCH64


def test_the_build_keeps_the_source_template_layers() -> None:
    layers = load_template(BUILT)["Globals"]["Function"]["Layers"]
    assert {"Ref": "DependenciesLayer"} in layers


def test_the_layer_keeps_babels_data_for_every_language_messages_are_written_in() -> None:
    # given the Babel data the layer ships (the Makefile drops the other languages')
    data = package_sizes.BUILD_DIR / "DependenciesLayer" / "python" / "babel" / "locale-data"
    kept = {path.stem for path in data.glob("*.dat")}
    # then every language of the catalog, with its regions, formats as in a real send
    for locale in SUPPORTED_LOCALES:
        language = locale.split("-")[0]
        assert language in kept, locale
        assert any(name.startswith(f"{language}_") for name in kept), locale
    assert "root" in kept
    assert "fr" not in kept
