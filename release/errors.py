"""One error type for everything a person can fix, and one place that prints it.

A `Problem` names the file, the field inside it (a JSON path such as
`$.kamiwaza_version`, or a compose path such as `services.backend.ports[0]`),
what is wrong and how to fix it. Tracebacks are for bugs in the harness; every
input mistake becomes a `Problem`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, TextIO

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found failures (checks, merge conflicts, tests)
EXIT_BAD_INPUT = 2  # the input or the environment is wrong; nothing was done


@dataclass(frozen=True)
class Problem:
    message: str
    file: Path | str | None = None
    field: str | None = None
    fix: str | None = None
    line: int | None = None  # 1-based, from the parser's marks
    column: int | None = None  # 1-based

    def render(self) -> str:
        """Linter style: `path:line:col: [field] message. Fix: ...` (line and column when known)."""
        where = ""
        if self.file is not None:
            where = str(_relative(self.file))
            if self.line is not None:
                where += f":{self.line}:{self.column or 1}:"
                if self.field:
                    where += f" [{self.field}]"
            elif self.field:
                where += f" [{self.field}]:"
            else:
                where += ":"
            where += " "
        elif self.field:
            where = f"[{self.field}]: "
        text = f"{where}{self.message.rstrip('.')}."
        if self.fix:
            text += f" Fix: {self.fix.rstrip('.')}."
        return text


class HarnessError(Exception):
    """Raised for input a person must fix; carries one or more problems."""

    def __init__(
        self,
        message: str | None = None,
        *,
        file: Path | str | None = None,
        field: str | None = None,
        fix: str | None = None,
        line: int | None = None,
        column: int | None = None,
        problems: Iterable[Problem] = (),
        exit_code: int = EXIT_BAD_INPUT,
    ) -> None:
        collected = list(problems)
        if message is not None:
            collected.insert(0, Problem(message, file=file, field=field, fix=fix, line=line, column=column))
        if not collected:
            raise ValueError("HarnessError needs a message or problems")
        self.problems: tuple[Problem, ...] = tuple(collected)
        self.exit_code = exit_code
        super().__init__(self.render())

    def render(self) -> str:
        return render_problems(self.problems)


def render_problems(problems: Iterable[Problem]) -> str:
    return "\n".join(f"error: {p.render()}" for p in problems)


def report(error: HarnessError, stream: TextIO | None = None) -> int:
    """Print an error for a person and return the exit code to use."""
    print(error.render(), file=stream or sys.stderr)
    return error.exit_code


def _relative(path: Path | str) -> Path | str:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return path
