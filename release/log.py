"""The one place human progress output goes: steps with their time, and tables."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, Sequence


def info(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Print a step's start, and its end with the time it took (also on failure)."""
    info(f"==> {title}")
    started = time.monotonic()
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    finally:
        info(f"<== {title}: {outcome} ({time.monotonic() - started:.1f}s)")


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 conflict`, `2 conflicts`, `0 entries` (pass `many` when adding an s is wrong)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
