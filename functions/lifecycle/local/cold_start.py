"""The part of a cold start this code controls, measured on the `sam build` output as deployed.

For every function in infra/template.yaml, its handler module (from its `Handler:`) is imported in
a fresh Python 3.13 that may not write bytecode (`-B`, as on Lambda's read-only code and layer
directories), with sys.path as Lambda builds it: the function's package, then the `python/`
folder of each of its layers, then what Lambda itself provides. For that last part (boto3 in the
runtime, Powertools from its public layer) the bench installs the template's pinned Powertools
and the boto3 the tests use into .aws-sam/bench/ with the same 3.13, and compiles them, as the
real layer and runtime ship bytecode. `import boto3` alone, in the same setup, is the yardstick.

The dependencies layer holds arm64 native code (pydantic-core, MarkupSafe). On a machine of
another architecture those extension modules cannot load, so the bench imports from a copy of
the layer in which just they are replaced by this machine's build of the same versions; every
Python file and its bytecode stay as deployed. The output says when it did so.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import shutil
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.local.package_sizes import (
    BUILD_DIR,
    LIMIT_BYTES,
    elf_machine,
    megabytes,
    report,
)
from lifecycle.local.stack import REPO_ROOT, TEMPLATE, load_template

BENCH_DIR = REPO_ROOT / ".aws-sam" / "bench"
FIND_PYTHON = REPO_ROOT / "infra" / "find-python313.sh"
POWERTOOLS_PARAMETER = "PowertoolsLayerArn"
# The budget: a handler module may cost at most this many times `import boto3`.
IMPORT_RATIO_TARGET = 1.5


class Unavailable(RuntimeError):
    """The deployed figures cannot be measured here (no build, no Python 3.13)."""


@dataclass
class ColdStart:
    """Import times (seconds, medians) and what the bench changed to measure them here."""

    boto3: float
    handlers: dict[str, tuple[str, float]]  # function -> (module, seconds)
    with_sdk: dict[str, float] = field(default_factory=dict)  # function -> module + boto3
    substituted: list[str] = field(default_factory=list)  # "name version" of swapped natives


def find_python313() -> Path:
    """The Python 3.13 `make build` uses (infra/find-python313.sh), or Unavailable."""
    found = subprocess.run(  # noqa: S603 - our own script, no arguments
        [str(FIND_PYTHON)], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise Unavailable(found.stderr.strip() or "no Python 3.13 found")
    return Path(found.stdout.strip()) / "python3.13"


def pinned_powertools(template: Path = TEMPLATE) -> str:
    """The Powertools version the template's layer parameter pins (its SSM path's last part)."""
    default = load_template(template)["Parameters"][POWERTOOLS_PARAMETER]["Default"]
    version = str(default).rsplit("/", 1)[-1]
    if not version[:1].isdigit():
        raise ValueError(f"{POWERTOOLS_PARAMETER} is not pinned to a version: {default}")
    return version


def _run(python: Path, *args: str) -> None:
    """Run quietly (pip warns about this machine's configuration); show the output on failure."""
    done = subprocess.run(  # noqa: S603 - fixed tools, our arguments
        [str(python), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise Unavailable(f"{python} {' '.join(args[:3])} ... failed (output above)")


def _pip_install(python: Path, target: Path, *requirements: str, deps: bool = True) -> None:
    """Install for this machine with python's pip, once; compile as the deployed layers are."""
    done = target / ".bench-complete"
    if done.exists():
        return
    shutil.rmtree(target, ignore_errors=True)
    flags = [] if deps else ["--no-deps"]
    _run(
        python,
        *("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"),
        *("--only-binary=:all:", "--target", str(target), *flags, *requirements),
    )
    _run(
        python,
        *("-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"),
        str(target),
    )
    done.touch()


def lambda_provided(python: Path) -> Path:
    """A stand-in for what Lambda provides: the pinned Powertools and boto3, with bytecode."""
    powertools = pinned_powertools()
    boto3 = importlib.metadata.version("boto3")
    target = BENCH_DIR / f"provided-powertools-{powertools}-boto3-{boto3}"
    _pip_install(python, target, f"aws-lambda-powertools=={powertools}", f"boto3=={boto3}")
    return target


def _owners(site: Path) -> dict[str, tuple[str, str]]:
    """Installed file (relative to site) -> (distribution, version), from dist-info RECORDs."""
    owners = {}
    for record in site.glob("*.dist-info/RECORD"):
        name, _, version = record.parent.name.removesuffix(".dist-info").rpartition("-")
        with record.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                if row:
                    owners[row[0]] = (name, version)
    return owners


def _fingerprint(site: Path) -> str:
    """Of the content only: `sam build --cached` copies the same files with new timestamps."""
    digest = hashlib.sha256()
    for path in sorted(site.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(site)}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def runnable_here(site: Path, python: Path) -> tuple[Path, list[str]]:
    """site itself, or a copy whose native extensions for another machine are replaced by this
    machine's build of the same distribution versions; and the distributions replaced."""
    host = elf_machine(Path(sys.executable).resolve())
    foreign = [path for path in site.rglob("*.so") if elf_machine(path) not in (None, host)]
    if not foreign:
        return site, []
    owners = _owners(site)
    swapped = sorted({owners[path.relative_to(site).as_posix()] for path in foreign})
    twin = BENCH_DIR / "host-native" / hashlib.sha256(str(site).encode()).hexdigest()[:16]
    fingerprint = _fingerprint(site)
    stamp = twin / ".bench-fingerprint"
    if not (stamp.is_file() and stamp.read_text() == fingerprint):
        shutil.rmtree(twin, ignore_errors=True)
        shutil.copytree(site, twin)
        natives = {}
        for name, version in swapped:
            natives[name] = BENCH_DIR / "native" / f"{name}-{version}-{python.name}"
            _pip_install(python, natives[name], f"{name}=={version}", deps=False)
        for path in foreign:
            relative = path.relative_to(site)
            module = path.name.split(".", 1)[0]
            name, _ = owners[relative.as_posix()]
            candidates = sorted((natives[name] / relative.parent).glob(f"{module}.*so"))
            if not candidates:
                raise Unavailable(f"no build of {relative} for this machine in {name}")
            (twin / relative).unlink()
            shutil.copy2(candidates[0], twin / relative.parent / candidates[0].name)
        stamp.write_text(fingerprint)
    return twin, [f"{name} {version}" for name, version in swapped]


# What a sending function's first invocation imports beside its handler module: the composition
# root builds its boto3 clients on first use, not at import.
WITH_SDK = "+boto3"


def _import_code(paths: Sequence[Path], module: str) -> str:
    modules = [module.removesuffix(WITH_SDK)]
    if module.endswith(WITH_SDK):
        modules += ["boto3", "botocore.config"]
    imports = "".join(f"import {name}\n" for name in modules)
    return (
        "import sys, time\n"
        f"sys.path[:0] = {[str(p) for p in paths]!r}\n"
        "started = time.perf_counter()\n"
        f"{imports}"
        "print(time.perf_counter() - started)\n"
    )


def _handlers(template: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(resource["Properties"]["Handler"]).rpartition(".")[0]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _layer_sites(built: Mapping[str, Any], function: str, build_dir: Path) -> list[Path]:
    """The python/ folders of the function's layers that the build made, in Layers order."""
    globals_layers = built.get("Globals", {}).get("Function", {}).get("Layers", [])
    props = built["Resources"][function]["Properties"]
    sites = []
    for layer in [*globals_layers, *props.get("Layers", [])]:
        ref = layer.get("Ref") if isinstance(layer, dict) else None
        resource = built["Resources"].get(ref, {})
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            site = (build_dir / str(resource["Properties"]["ContentUri"]) / "python").resolve()
            if site.is_dir():
                sites.append(site)
    return sites


def measure(build_dir: Path = BUILD_DIR, repeats: int = 5, template: Path = TEMPLATE) -> ColdStart:
    """Median import time of each function's handler module and of boto3, as deployed."""
    built_template = build_dir / "template.yaml"
    if not built_template.is_file():
        raise Unavailable(f"no {built_template}: run `make build` first")
    python = find_python313()
    built = load_template(built_template)
    provided = lambda_provided(python)
    substituted: set[str] = set()
    runs: dict[tuple[str, tuple[Path, ...]], list[float]] = {}
    jobs: dict[str, tuple[str, tuple[Path, ...]]] = {}
    for function, module in _handlers(load_template(template)).items():
        if function not in built["Resources"]:
            raise Unavailable(f"{function} is not in {built_template}: run `make build` again")
        code = (build_dir / str(built["Resources"][function]["Properties"]["CodeUri"])).resolve()
        sites = []
        for site in [code, *_layer_sites(built, function, build_dir)]:
            usable, swapped = runnable_here(site, python)
            sites.append(usable)
            substituted.update(swapped)
        key = (*sites, provided)
        jobs[function] = (module, key)
        runs.setdefault((module, key), [])
        runs.setdefault((module + WITH_SDK, key), [])
        runs.setdefault(("boto3", key), [])
    # Interleaved, so a burst of load on a shared machine hits every figure alike.
    for _ in range(repeats):
        for module, paths in runs:
            out = subprocess.run(  # noqa: S603 - our interpreter, our code
                [str(python), "-I", "-B", "-c", _import_code(paths, module)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[(module, paths)].append(float(out.stdout.strip()))
    medians = {job: statistics.median(samples) for job, samples in runs.items()}
    first_paths = next(iter(jobs.values()))[1]
    return ColdStart(
        boto3=medians[("boto3", first_paths)],
        handlers={fn: (module, medians[(module, paths)]) for fn, (module, paths) in jobs.items()},
        with_sdk={fn: medians[(module + WITH_SDK, paths)] for fn, (module, paths) in jobs.items()},
        substituted=sorted(substituted),
    )


def run(build_dir: Path = BUILD_DIR, repeats: int = 5) -> dict[str, float]:
    """Print the deployed figures (import times and sizes); return them (seconds, bytes)."""
    figures: dict[str, float] = {}
    print()
    try:
        cold = measure(build_dir, repeats)
    except Unavailable as reason:
        print(f"Cold start as deployed: not measured. {reason}")
    else:
        print(
            f"Cold start as deployed: handler module imports from {build_dir}"
            f" (python3.13 -B, median of {repeats} fresh interpreters)"
        )
        print(
            "  sys.path: the function package, the dependencies layer's python/, and"
            f" Powertools {pinned_powertools()} + boto3 {importlib.metadata.version('boto3')}"
            " (installed with bytecode as Lambda provides them)"
        )
        if cold.substituted:
            print(
                "  native code of the arm64 build swapped for this machine's build of the same"
                f" versions: {', '.join(cold.substituted)}"
            )
        print(
            f"  {'function':<26}{'handler module':<48}{'import':>10}{'x boto3':>9}"
            f"{'+ boto3':>11}{'x boto3':>9}"
        )
        missed = []
        for function, (module, seconds) in cold.handlers.items():
            ratio = seconds / cold.boto3
            if ratio > IMPORT_RATIO_TARGET:
                missed.append(function)
            both = cold.with_sdk[function]
            print(
                f"  {function:<26}{module:<48}{seconds * 1000:7.1f} ms{ratio:8.2f}x"
                f"{both * 1000:8.1f} ms{both / cold.boto3:8.2f}x"
            )
            figures[f"import:{function}"] = seconds
            figures[f"import+boto3:{function}"] = both
        print(f"  {'import boto3 alone':<74}{cold.boto3 * 1000:7.1f} ms")
        print(
            "  (handlers import boto3 only when their first invocation builds its clients;"
            " '+ boto3' is the module plus boto3 and botocore.config, what a cold start loads"
            " before its first AWS call)"
        )
        figures["boto3_import"] = cold.boto3
        met = len(cold.handlers) - len(missed)
        verdict = f"met by {met} of {len(cold.handlers)}"
        if missed:
            verdict += f"; MISSED by {', '.join(missed)}"
        print(f"  target: handler import at most {IMPORT_RATIO_TARGET}x import boto3: {verdict}")
    print()
    try:
        rows, total = report(build_dir)
    except FileNotFoundError as reason:
        print(f"Package sizes: not measured. {reason}")
    else:
        for package, unzipped, zipped in rows:
            figures[f"unzipped:{package.name}"] = unzipped
            figures[f"zipped:{package.name}"] = zipped
        figures["total_zipped"] = total
        if total > LIMIT_BYTES:
            print(f"  ({megabytes(total - LIMIT_BYTES).strip()} over the budget)")
    return figures
