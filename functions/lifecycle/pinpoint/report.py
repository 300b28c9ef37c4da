"""What an import found and did: problems (what could not be carried, and where), and for each
thing it writes whether it is new, updated or unchanged. Shared by the endpoint, template and
settings imports, so the command prints one report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Outcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


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


def write_files(folder: Path, files: Mapping[str, str], dry_run: bool) -> Outcome:
    """Write text files under `folder` (relative name -> text), or only tell what writing them
    would do: new (the folder is not there), updated (a file differs or is missing),
    unchanged. Files of the folder not named are left alone."""
    if not folder.exists():
        outcome = Outcome.NEW
    elif all(
        (folder / name).is_file() and (folder / name).read_text(encoding="utf-8") == text
        for name, text in files.items()
    ):
        return Outcome.UNCHANGED
    else:
        outcome = Outcome.UPDATED
    if not dry_run:
        for name, text in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return outcome
