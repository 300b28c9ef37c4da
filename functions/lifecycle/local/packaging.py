"""What `sam build` puts in a function package: the deployed part of `lifecycle`, compiled.

functions/Makefile runs `python3.13 -I lifecycle/local/packaging.py function "$ARTIFACTS_DIR"`
in SAM's scratch copy of functions/ (Metadata: BuildMethod: makefile in infra/template.yaml). The
package gets the `lifecycle` tree as it is, whatever modules it holds, minus `CLI_ONLY`, plus
bytecode compiled for the runtime. Dependencies come from the DependenciesLayer, boto3 from the
Lambda runtime and Powertools from its public layer, so none of them is copied here.

Standard library only: this runs as a script under the build's Python 3.13, outside the
project's venv.
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# The one list of what stays out of every function package, relative to the `lifecycle`
# package: the command line and what only it uses (the moto-backed local stack, simulator and
# benchmarks; the template authoring tools; customer export and erasure; stream replay; the
# Pinpoint import; the owner's report). No deployed module may import these
# (lifecycle.local.package_sizes checks the built packages).
CLI_ONLY: tuple[str, ...] = (
    "local",
    "authoring",
    "cli.py",
    "subject_requests.py",
    "replay.py",
    "replay_command.py",
    "profile_command.py",
    "retention_report.py",
    "campaign_control.py",
    "pinpoint",
    # The owner's report is made on the command line; only its tally is deployed.
    "reporting/document.py",
    "reporting/sections.py",
    "reporting/html.py",
    "reporting/gather.py",
)

# Never copied from the source tree: bytecode of whatever interpreter ran the tests, and
# editable-install metadata. The package gets fresh bytecode from the runtime's version instead.
_NEVER_COPIED = ("__pycache__", "*.pyc", "*.pyo", "*.egg-info")

# The template's runtime (tests/infra/test_template.py keeps the two in step). Bytecode is only
# used by the interpreter version that wrote it.
RUNTIME = (3, 13)

# Where Lambda unpacks the function package; tracebacks then name the deployed paths.
TASK_ROOT = "/var/task"


def _ignore(package_root: Path) -> Callable[[str, list[str]], set[str]]:
    generic = shutil.ignore_patterns(*_NEVER_COPIED)

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(package_root)
        excluded = {name for name in names if (relative / name).as_posix() in CLI_ONLY}
        return excluded | set(generic(directory, names))

    return ignore


def compile_tree(root: Path, deployed_at: str) -> None:
    """Write `__pycache__/*.pyc` for every module under root.

    Unchecked-hash pycs are used whatever the source's timestamp says: zipping and unzipping
    changes timestamps, and Lambda's read-only code directory could not take a rewrite anyway.
    """
    ok = compileall.compile_dir(
        str(root),
        ddir=deployed_at,
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"compiling {root} failed (see above)")


def build_function(source: Path, artifacts: Path) -> None:
    """Copy source/lifecycle minus CLI_ONLY into artifacts/lifecycle and compile it."""
    package = source / "lifecycle"
    if not (package / "__init__.py").is_file():
        raise SystemExit(f"{package} is not the lifecycle package")
    target = artifacts / "lifecycle"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(package, target, ignore=_ignore(package))
    compile_tree(target, f"{TASK_ROOT}/lifecycle")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packaging.py")
    commands = parser.add_subparsers(dest="command", required=True)
    function = commands.add_parser("function", help="build one function package")
    function.add_argument("artifacts", type=Path, help="SAM's ARTIFACTS_DIR")
    function.add_argument("--source", type=Path, default=Path.cwd(), help="the functions/ dir")
    args = parser.parse_args(argv)

    if sys.version_info[:2] != RUNTIME:
        wanted, running = ".".join(map(str, RUNTIME)), sys.version.split()[0]
        print(
            f"packaging needs Python {wanted} (the template's runtime), not {running}:"
            " run `make build`, which finds one",
            file=sys.stderr,
        )
        return 1
    build_function(args.source.resolve(), args.artifacts.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
