"""The publish lock's body, and what any command that meets a lock says about it.

The lock (`garden/v2/registry.lock`) is JSON:

    {"owner", "host", "pid", "acquired_at", "expires_at", "token",     who and until when
     "operation": "publish-registry" | "unpublish NAME VERSION" | "restore-registry BACKUP",
     "backup": {"timestamp", "remote", "local"},                        where the state before is kept
     "plan": [{"name", "before", "after"}],                             sha256 of every object to write
     "took_over": "<token>"}                                            the lock this one replaced, if any

`backup` and `plan` are written (a conditional update of the lock) after the
backup and before the first registry write, so a publish that dies half-way
leaves a lock that says which objects it meant to change and where the state
before it is. `status` compares that plan with the objects as they are now:
each is `new` (holds the planned bytes), `old` (still the bytes before) or
`unknown` (anything else). Everything printed from a lock body goes through
`printable` (its fields come from whoever wrote the lock), and every command
suggested to the reader is built with `shlex.quote`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from release import fileio
from release.log import plural

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
NEW, OLD, UNKNOWN = "new", "old", "unknown"


def printable(value: Any, limit: int = 200) -> str:
    """`value` as text with control characters escaped (\\n, \\x1b, ...) and a bounded length."""
    text = str(value)
    escaped = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def make(target: str, **variables: str | None) -> str:
    """`make TARGET VAR=value ...`, each assignment shell-quoted as one word."""
    return " ".join(["make", target, *(shlex.quote(f"{k}={v}") for k, v in variables.items() if v is not None)])


@dataclass(frozen=True)
class PlanItem:
    name: str  # relative to garden/v2
    before: str | None  # sha256 before, None: absent
    after: str | None  # sha256 after, None: deleted

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Lock:
    """The lock object's body and its ETag."""

    owner: str
    host: str
    pid: int | str
    acquired_at: str
    expires_at: str
    token: str
    etag: str = ""
    readable: bool = True
    operation: str = ""
    backup: Mapping[str, str] | None = None
    plan: tuple[PlanItem, ...] | None = None
    took_over: str | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)

    @staticmethod
    def new(owner: str, ttl: float, *, now: datetime | None = None, operation: str = "publish-registry") -> "Lock":
        moment = now or _now()
        return Lock(owner=owner, host=socket.gethostname(), pid=os.getpid(), acquired_at=_format(moment),
                    expires_at=_format(moment + timedelta(seconds=ttl)), token=uuid.uuid4().hex, operation=operation)

    @staticmethod
    def parse(body: bytes, etag: str) -> "Lock":
        try:
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            return Lock("unknown", "unknown", "?", "?", "?", "?", etag, readable=False, raw=body)
        return Lock(
            owner=str(data.get("owner", "unknown")), host=str(data.get("host", "unknown")), pid=_pid(data.get("pid", "?")),
            acquired_at=str(data.get("acquired_at", "?")), expires_at=str(data.get("expires_at", "?")),
            token=str(data.get("token", "?")), etag=etag, operation=str(data.get("operation", "")),
            backup=_backup(data.get("backup")), plan=_plan(data.get("plan")),
            took_over=str(data["took_over"]) if data.get("took_over") else None, raw=body,
        )

    def body(self) -> bytes:
        data: dict[str, Any] = {"owner": self.owner, "host": self.host, "pid": self.pid, "acquired_at": self.acquired_at,
                                "expires_at": self.expires_at, "token": self.token, "operation": self.operation}
        if self.backup is not None:
            data["backup"] = dict(self.backup)
        if self.plan is not None:
            data["plan"] = [item.to_json() for item in self.plan]
        if self.took_over:
            data["took_over"] = self.took_over
        return fileio.canonical_json(data)

    def with_etag(self, etag: str) -> "Lock":
        return dataclasses.replace(self, etag=etag)

    def with_plan(self, backup: Mapping[str, str], plan: Sequence[PlanItem]) -> "Lock":
        return dataclasses.replace(self, backup=dict(backup), plan=tuple(plan))

    def stale_for(self, now: datetime | None = None) -> timedelta | None:
        """How long past expires_at the lock is; None when not stale (or unknown)."""
        expires = _parse_time(self.expires_at)
        if expires is None:
            return None
        late = (now or _now()) - expires
        return late if late > timedelta(0) else None

    def describe(self, now: datetime | None = None) -> str:
        if not self.readable:
            return "the lock's body is not readable JSON (written by another tool?)"
        p = printable
        what = f" for {p(self.operation)}" if self.operation else ""
        text = (f"held by {p(self.owner)} on {p(self.host)} (pid {p(self.pid)}){what} since {p(self.acquired_at)}, "
                f"expires {p(self.expires_at)}, token {p(self.token)}")
        late = self.stale_for(now)
        if late is not None:
            text += f"; it is STALE: {_duration(late)} past expires_at (its process probably died without releasing it)"
        return text

    @property
    def backup_timestamp(self) -> str | None:
        stamp = (self.backup or {}).get("timestamp")
        return str(stamp) if stamp else None


def status(plan: Sequence[PlanItem], current: Mapping[str, str | None]) -> list[tuple[PlanItem, str]]:
    """Each planned object compared with its sha256 now (None: absent): new, old or unknown."""
    found = []
    for item in plan:
        now = current.get(item.name)
        found.append((item, NEW if now == item.after else OLD if now == item.before else UNKNOWN))
    return found


def is_mixed(statuses: Sequence[tuple[PlanItem, str]]) -> bool:
    """True when the registry may differ from the backup: some planned object is not `old`."""
    return any(state != OLD for _, state in statuses)


def explain(lock: Lock, statuses: Sequence[tuple[PlanItem, str]] | None, *, stage: str, url: str, held: bool = True) -> list[str]:
    """Lines saying what the lock holder did to the registry, and the ways out (`held`: the lock is still there)."""
    lines = [f"the registry lock {url} is {lock.describe()}" if held else f"the removed lock {url} was {lock.describe()}"]
    token = lock.token if lock.readable and held else None
    if not lock.readable:
        lines.append("its body cannot be read, so what its writer did is unknown; compare the registry with the latest backup "
                     "(`make download-registry`, build/registry-backups/ or garden/v2-backups/ in the bucket)")
        lines.append(f"after investigating, remove it: `{make('remove-publish-lock', STAGE=stage)}`" if held else
                     "if the registry is wrong, put a backup back: `make restore-registry STAGE=.. BACKUP=<timestamp>`")
        return lines
    if lock.plan is None or statuses is None:
        lines.append("its holder had not started writing the registry (the lock records no plan): the registry is as it was")
        if held:
            lines.append(f"if that process is gone, remove the lock: `{make('remove-publish-lock', STAGE=stage, LOCK_ID=token)}`, "
                         f"or take it over and publish: `{make('publish-registry', STAGE=stage, LOCK_ID=token)}`")
        return lines
    counts = {state: sum(1 for _, s in statuses if s == state) for state in (NEW, OLD, UNKNOWN)}
    if not is_mixed(statuses):
        lines.append(f"it planned to write {plural(len(statuses), 'object')} and none of them was written yet: the registry is as it was")
    else:
        lines.append(f"it planned to write {plural(len(statuses), 'object')} and stopped part-way: {counts[NEW]} new, {counts[OLD]} old, "
                     f"{counts[UNKNOWN]} unknown (neither the bytes before nor the planned bytes)")
    for item, state in statuses:
        lines.append(f"  {state:<7} {printable(item.name)}")
    stamp = lock.backup_timestamp
    where = ", ".join(printable(v) for k, v in sorted((lock.backup or {}).items()) if k in ("remote", "local"))
    if stamp:
        lines.append(f"the registry before it is backed up as {printable(stamp)} ({where})")
    lines.append("two ways out, once that process is surely gone (both take over this lock, from any machine):" if held
                 else "the registry may be mixed; two ways out:")
    lines.append(f"  finish the job (merges the local registry into the current remote state): `{make('publish-registry', STAGE=stage, LOCK_ID=token)}`")
    if stamp:
        lines.append(f"  or put the backup back, verified: `{make('restore-registry', STAGE=stage, BACKUP=stamp, LOCK_ID=token)}`")
    return lines


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _format(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.strptime(str(text), TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _pid(value: Any) -> int | str:
    return value if isinstance(value, int) else str(value)


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _backup(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int))}


def _plan(value: Any) -> tuple[PlanItem, ...] | None:
    if not isinstance(value, list):
        return None
    items = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            items.append(PlanItem(item["name"], _sha(item.get("before")), _sha(item.get("after"))))
    return tuple(items)


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {seconds}s"
