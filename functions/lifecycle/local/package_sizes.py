"""`python -m lifecycle.local.package_sizes`: what a deploy uploads, and that it is lean.

Reads the template `sam build` wrote (.aws-sam/build/template.yaml), zips every function package
and every layer it names as `sam deploy` zips them (deflate), prints each size, and fails when
all together exceed LIMIT_BYTES zipped, or when a package holds what it must not:

- a function package holds the `lifecycle` package only, none of packaging.CLI_ONLY, and no
  deployed module imports one of those;
- a layer with Python packages (python/) holds no boto3, botocore or Powertools (the runtime and
  the Powertools layer provide them), and its native code is for the runtime: Linux arm64
  (ELF machine aarch64) and CPython 3.13;
- every module, in functions and layers, ships unchecked-hash bytecode for the runtime.

`make test` runs it after `make build`; tests/infra/test_packages.py runs the same checks.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import struct
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lifecycle.local.packaging import CLI_ONLY, RUNTIME
from lifecycle.local.stack import REPO_ROOT, load_template

BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
# The budget for everything a deploy uploads (decimal megabytes).
LIMIT_BYTES = 25_000_000
CACHE_TAG = f"cpython-{RUNTIME[0]}{RUNTIME[1]}"
PROVIDED_ELSEWHERE = ("boto3", "botocore", "aws_lambda_powertools")
ELF_AARCH64 = 183  # e_machine of an arm64 ELF object
_UNCHECKED_HASH = 0b01  # pyc flags (PEP 552): hash-based, source not checked


@dataclass(frozen=True)
class Package:
    """One zip a deploy uploads: a function's code or a layer's content."""

    name: str  # logical id
    kind: str  # "function" or "layer"
    path: Path
    built: bool  # made by a build method (else copied as is from the source tree)

    def files(self) -> Iterator[Path]:
        for root, dirs, names in os.walk(self.path):
            dirs.sort()
            for name in sorted(names):
                yield Path(root, name)

    def unzipped_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files())

    def zipped_bytes(self) -> int:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in self.files():
                archive.write(path, path.relative_to(self.path).as_posix())
        return len(buffer.getvalue())


def packages(build_dir: Path = BUILD_DIR) -> list[Package]:
    """Every function package and layer in the built template, in template order."""
    built_template = build_dir / "template.yaml"
    if not built_template.is_file():
        raise FileNotFoundError(f"no {built_template}: run `make build` first")
    found = []
    for name, resource in load_template(built_template)["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            kind, uri = "function", props.get("CodeUri")
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            kind, uri = "layer", props.get("ContentUri")
        else:
            continue
        if not isinstance(uri, str):
            raise ValueError(f"{name}: no local code in {built_template}")
        path = (build_dir / uri).resolve()
        found.append(Package(name, kind, path, built=path.parent == build_dir.resolve()))
    return found


def elf_machine(path: Path) -> int | None:
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    machine: int = struct.unpack_from("<H" if header[5] == 1 else ">H", header, 18)[0]
    return machine


def _pyc_problem(source: Path) -> str | None:
    pyc = source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"
    if not pyc.is_file():
        return "no bytecode"
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    if flags != _UNCHECKED_HASH:
        return f"bytecode is not unchecked-hash (flags {flags})"
    return None


def _cli_only_modules() -> tuple[str, ...]:
    return tuple("lifecycle." + entry.removesuffix(".py").replace("/", ".") for entry in CLI_ONLY)


def _type_checking_only(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST) -> Iterator[str]:
    """Modules a module imports when it runs (imports only type checkers see are left out)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        yield node.module
        yield from (f"{node.module}.{alias.name}" for alias in node.names)
    for child in ast.iter_child_nodes(node):
        if _type_checking_only(child):
            assert isinstance(child, ast.If)
            for orelse in child.orelse:
                yield from _imported(orelse)
        else:
            yield from _imported(child)


def _function_problems(package: Package) -> Iterator[str]:
    top = {entry.name for entry in package.path.iterdir()}
    if top != {"lifecycle"}:
        yield f"holds {sorted(top - {'lifecycle'})} besides the lifecycle package"
    root = package.path / "lifecycle"
    for entry in CLI_ONLY:
        if (root / entry).exists():
            yield f"ships lifecycle/{entry}, which is CLI-only"
    forbidden = _cli_only_modules()
    for source in sorted(root.rglob("*.py")):
        where = source.relative_to(package.path).as_posix()
        tree = ast.parse(source.read_bytes(), filename=where)
        for module in _imported(tree):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                yield f"{where} imports {module}, which is not deployed"
        problem = _pyc_problem(source)
        if problem:
            yield f"{where}: {problem}"


def _layer_problems(package: Package) -> Iterator[str]:
    site = package.path / "python"
    if not site.is_dir():
        return  # not a Python layer (the templates layer)
    for name in PROVIDED_ELSEWHERE:
        if (site / name).exists():
            yield f"ships {name}, which Lambda provides"
    for path in package.files():
        where = path.relative_to(package.path).as_posix()
        if path.suffix == ".py":
            problem = _pyc_problem(path)
            if problem:
                yield f"{where}: {problem}"
        machine = elf_machine(path) if path.suffix == ".so" or ".so." in path.name else None
        if machine is not None and machine != ELF_AARCH64:
            yield f"{where}: native code for ELF machine {machine}, not arm64"
        if machine is not None and ".cpython-" in path.name and CACHE_TAG not in path.name:
            yield f"{where}: built for another Python than {CACHE_TAG}"


def problems(found: Sequence[Package]) -> list[str]:
    """Everything wrong with the built packages, as `Name: problem` lines."""
    lines: list[str] = []
    for package in found:
        if not package.built:
            continue
        check = _function_problems if package.kind == "function" else _layer_problems
        lines.extend(f"{package.name}: {problem}" for problem in check(package))
    return lines


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:7.2f} MB"


def report(build_dir: Path = BUILD_DIR) -> tuple[list[tuple[Package, int, int]], int]:
    """Print the size table; return (package, unzipped, zipped) rows and the zipped total."""
    rows = [(p, p.unzipped_bytes(), p.zipped_bytes()) for p in packages(build_dir)]
    print(f"What a deploy uploads, from {build_dir} (zipped with deflate, as sam deploy does)")
    print(f"  {'package':<26}{'kind':<10}{'unzipped':>12}{'zipped':>12}")
    for package, unzipped, zipped in rows:
        sizes = f"{megabytes(unzipped):>12}{megabytes(zipped):>12}"
        print(f"  {package.name:<26}{package.kind:<10}{sizes}")
    total_unzipped = sum(row[1] for row in rows)
    total = sum(row[2] for row in rows)
    print(f"  {'total':<36}{megabytes(total_unzipped):>12}{megabytes(total):>12}")
    verdict = "met" if total <= LIMIT_BYTES else "MISSED"
    print(f"  target: at most {megabytes(LIMIT_BYTES).strip()} zipped in all: {verdict}")
    return rows, total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lifecycle.local.package_sizes")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    args = parser.parse_args(argv)
    try:
        _, total = report(args.build_dir)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    wrong = problems(packages(args.build_dir))
    for line in wrong:
        print(f"  problem: {line}")
    if total > LIMIT_BYTES or wrong:
        return 1
    print("  contents: function packages hold lifecycle/ only, layers the runtime's bytecode")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
