"""Which extensions a command works on: TYPE/NAME, and SINCE=<git ref> (changed-only).

With SINCE, an extension is selected when a file under its folder changed since
the ref (committed, staged, unstaged or untracked); every extension is selected
when a file that affects all of them changed (templates, the harness, the checks,
the schemas, the build files).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from release import extensions, log
from release.config import Settings
from release.errors import HarnessError
from release.extensions import Extension

# Paths (relative to the root) whose change can alter the result for every extension.
AFFECTS_ALL = ("templates/", "release/", "checks/", "conftest.py", "pytest.ini", "pyproject.toml", "Makefile")


@dataclass(frozen=True)
class Selection:
    extensions: tuple[Extension, ...]
    reasons: tuple[str, ...]  # one line per selected extension (or one for all), for people


def select(settings: Settings) -> Selection:
    """Discovery, then TYPE/NAME, then SINCE: the one selection every command uses."""
    chosen = extensions.select(extensions.discover(settings.root), settings.extension_type, settings.extension_name)
    if settings.since is None:
        return Selection(tuple(chosen), ())
    return changed_only(chosen, changed_files(settings.root, settings.since), settings.root, settings.since)


def changed_only(candidates: Sequence[Extension], changed: Iterable[str], root: Path, ref: str) -> Selection:
    """Pure: narrow `candidates` to those touched by the `changed` paths (relative, POSIX)."""
    changed = sorted(set(changed))
    global_changes = [path for path in changed if path.startswith(AFFECTS_ALL)]
    if global_changes:
        shown = ", ".join(global_changes[:3]) + (f" and {len(global_changes) - 3} more" if len(global_changes) > 3 else "")
        return Selection(tuple(candidates), (f"all {log.plural(len(candidates), 'extension')}: {shown} changed since {ref}",))
    selected: list[Extension] = []
    reasons: list[str] = []
    for extension in candidates:
        prefix = extension.path.relative_to(root).as_posix() + "/"
        touched = [path for path in changed if path.startswith(prefix)]
        if touched:
            selected.append(extension)
            first = PurePosixPath(touched[0]).relative_to(prefix.rstrip("/"))
            more = f" and {len(touched) - 1} more" if len(touched) > 1 else ""
            reasons.append(f"{extension.id}: {first}{more} changed since {ref}")
    return Selection(tuple(selected), tuple(reasons))


def changed_files(root: Path, ref: str) -> list[str]:
    """Files changed since `ref`, relative to `root`: commits, index, work tree and untracked."""
    diff = _git(root, "diff", "--name-only", "--relative", ref, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard")
    return sorted({line for line in (diff + untracked).splitlines() if line})


def _git(root: Path, *args: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise HarnessError("git is not installed", field="SINCE", fix="install git, or run without SINCE") from None
    if result.returncode != 0:
        detail = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
        raise HarnessError(f"git could not compare with SINCE: {detail}", field="SINCE", fix="use a ref that exists here (e.g. origin/main, HEAD~1, a tag or a commit) and run inside the git checkout")
    return result.stdout


def describe(selection: Selection) -> str:
    return "\n".join(f"selected {line}" for line in selection.reasons) or "selected no extensions: nothing changed"
