"""What an import found and did: problems (what could not be carried, and where), and for each
thing it writes whether it is new, updated or unchanged. Shared by the endpoint, template and
settings imports, so the command prints one report."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Outcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    KEPT = "kept as it is"  # edited since the import wrote it, or never the import's


@dataclass(frozen=True, order=True)
class Problem:
    """One thing not carried (or carried differently): its kind (what the report counts
    problems by), where it is (a file and line, or a template, part and line) and what."""

    kind: str
    where: str
    detail: str

    def line(self) -> str:
        return f"{self.where}: {self.detail}"


def by_kind(problems: list[Problem]) -> Counter[str]:
    return Counter(p.kind for p in problems)


# Beside what the import writes: the hash of each file as written, so a later import can tell
# a file it may replace (still as it wrote it) from one someone edited since, or never its.
MANIFEST = ".pinpoint-import.json"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    try:
        loaded = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return (
        {k: v for k, v in loaded.items() if isinstance(v, str)} if isinstance(loaded, dict) else {}
    )


def write_files(
    folder: Path, files: Mapping[str, str], dry_run: bool, *, own_folder: bool = False
) -> Outcome:
    """Write text files under `folder` (relative name -> text), or only tell what writing them
    would do: new (none of them is there), updated, unchanged, or kept: a file is there that
    the import did not write, or that was edited since it did, so none is written (an import
    never undoes a person's work). Files of the folder not named are left alone. With
    `own_folder` (a template folder, one message), a folder someone else made is kept whole."""
    written = _manifest(folder)
    if own_folder and not written and folder.is_dir() and any(folder.iterdir()):
        return Outcome.KEPT  # a folder someone made: the import writes nothing into it
    present = {name: folder / name for name in files if (folder / name).is_file()}
    current = {name: path.read_text(encoding="utf-8") for name, path in present.items()}
    if any(written.get(name) != _digest(text) for name, text in current.items()):
        return Outcome.KEPT
    if current and all(current.get(name) == text for name, text in files.items()):
        return Outcome.UNCHANGED
    outcome = Outcome.UPDATED if current else Outcome.NEW
    if not dry_run:
        for name, text in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        written.update({name: _digest(text) for name, text in files.items()})
        (folder / MANIFEST).write_text(json.dumps(written, indent=1, sort_keys=True) + "\n")
    return outcome
