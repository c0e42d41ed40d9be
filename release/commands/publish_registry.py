"""`make publish-registry` (version-aware upsert) and `make publish-registry-direct` (legacy sync)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from release import publish
from release.config import Settings


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A CI cancel (SIGTERM) takes the same path as Ctrl-C: restore if needed, release the lock."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(settings: Settings, args) -> int:
    with _sigterm_as_interrupt():
        return publish.publish(settings, direct=getattr(args, "command", "") == "publish-registry-direct")
