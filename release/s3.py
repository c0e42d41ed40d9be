"""The S3 edge: settings for a stage, objects with ETags, the lock, backups, verify.

Remote layout (bucket per stage):

    s3://{bucket}/garden/v2/apps.json, tools.json, images/*     the registry
    s3://{bucket}/garden/v2/registry.lock                       the publish lock
    s3://{bucket}/garden/.conditional-write-probe/{token}       short-lived probe objects

Every write that could race is conditional: the lock is created with
`IfNoneMatch='*'` and deleted with `IfMatch` of its ETag; registry objects are
written with `IfMatch` of the ETag read before (`IfNoneMatch='*'` when absent).
A store that ignores those conditions would make all of that silently
useless, so `probe_conditional_writes` checks, before a publish takes the
lock, that the store refuses conditional writes that must fail.

boto3 only. Credentials come from the stage's AWS profile, or, with an
endpoint and no profile (moto, MinIO), from AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN] in the environment or `.env`. No
credential is ever printed: errors name the variable, never its value.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import random
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping

from release import fileio, registry
from release.config import Settings, parse_seconds
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError

GARDEN_PREFIX = f"garden/{registry.GARDEN_DIR}"
LOCK_NAME = "registry.lock"
PROBE_PREFIX = "garden/.conditional-write-probe"
DEFAULT_REGION = "us-east-1"
DEFAULT_LOCK_TTL = 1800.0
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ABSENT = "<absent>"  # `expect` value: the object must not exist (IfNoneMatch='*')

_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Target:
    """Where one stage's registry lives and how to reach it."""

    stage: str
    bucket: str
    prefix: str = GARDEN_PREFIX
    profile: str | None = None
    profile_variable: str | None = None
    endpoint: str | None = None
    region: str = DEFAULT_REGION
    bucket_variable: str = "KAMIWAZA_REGISTRY_BUCKET"

    def url(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}/{name}"

    def describe(self) -> str:
        via = f"profile {self.profile}" if self.profile else "credentials from the environment"
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"{self.url()} (stage {self.stage}, {via}{where})"


def profile_variable(stage: str) -> str:
    return f"AWS_PROFILE_{stage.upper()}"


def bucket_variables(stage: str) -> tuple[str, str]:
    return (f"KAMIWAZA_REGISTRY_BUCKET_{stage.upper()}", "KAMIWAZA_REGISTRY_BUCKET")


def resolve_target(settings: Settings, stage: str | None = None) -> Target:
    """The stage's bucket, profile and endpoint; one error listing everything missing."""
    stage = stage or settings.stage
    stage_bucket, shared_bucket = bucket_variables(stage)
    bucket_variable = stage_bucket if settings.get(stage_bucket) else shared_bucket
    bucket = settings.get(bucket_variable)
    endpoint = settings.get("KAMIWAZA_REGISTRY_ENDPOINT")
    variable = profile_variable(stage)
    profile = settings.get(variable)
    missing = []
    if not bucket:
        missing.append(f"{stage_bucket} (or {shared_bucket}): the S3 bucket of the {stage} registry")
    if not profile and not endpoint:
        missing.append(f"{variable}: the AWS profile that may write the {stage} registry (or KAMIWAZA_REGISTRY_ENDPOINT with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for an S3-compatible store)")
    if missing:
        raise HarnessError(
            f"S3 settings for stage {stage} are missing: " + "; ".join(missing),
            field=", ".join(m.split(" ")[0].split(":")[0] for m in missing),
            fix="set them in .env (see .env.example) or in the environment",
        )
    region = settings.get("AWS_REGION") or settings.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    return Target(stage=stage, bucket=bucket, profile=profile, profile_variable=variable if profile else None,
                  endpoint=endpoint, region=region, bucket_variable=bucket_variable)


def lock_ttl(settings: Settings) -> float:
    return parse_seconds("LOCK_TTL", settings.get("LOCK_TTL"), DEFAULT_LOCK_TTL)


def connect(settings: Settings, stage: str | None = None) -> "Remote":
    target = resolve_target(settings, stage)
    return Remote(make_client(target, settings.env), target)


def make_client(target: Target, env: Mapping[str, str]):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        if target.profile:
            session = boto3.Session(profile_name=target.profile, region_name=target.region)
        else:
            keys = {name: env.get(name) or None for name in _CREDENTIAL_VARIABLES}
            session = boto3.Session(
                aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=keys["AWS_SESSION_TOKEN"],
                region_name=target.region,
            )
        config = Config(
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            s3={"addressing_style": "path"} if target.endpoint else None,
        )
        return session.client("s3", endpoint_url=target.endpoint, config=config)
    except ProfileNotFound:
        raise HarnessError(
            f'AWS profile "{target.profile}" is not configured on this machine',
            field=target.profile_variable,
            fix=f"add the profile to ~/.aws/config (aws configure sso, or credentials), or correct {target.profile_variable} in .env",
        ) from None
    except BotoCoreError as error:  # e.g. a malformed endpoint URL
        raise HarnessError(f"cannot create an S3 client: {error}", field="KAMIWAZA_REGISTRY_ENDPOINT",
                           fix="check KAMIWAZA_REGISTRY_ENDPOINT and the AWS settings in .env") from None


# --------------------------------------------------------------------------- errors


class ConditionFailed(Exception):
    """A conditional request was refused: the object is not in the state we expected."""

    def __init__(self, name: str, condition: str, detail: str = "") -> None:
        self.name = name
        self.condition = condition
        super().__init__(f"{name}: {condition} did not hold{': ' + detail if detail else ''}")


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(error: Exception) -> int:
    response = getattr(error, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_missing(error: Exception) -> bool:
    return _code(error) in ("NoSuchKey", "404", "NotFound") or _status(error) == 404 and _code(error) != "NoSuchBucket"


def _is_precondition(error: Exception) -> bool:
    return _code(error) == "PreconditionFailed" or _status(error) == 412


def _is_conflict(error: Exception) -> bool:
    return _code(error) == "ConditionalRequestConflict" or _status(error) == 409


def explain(error: Exception, target: Target, action: str) -> HarnessError:
    """A boto error as a HarnessError a person can act on (never with credentials)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        where = target.profile_variable or "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        return HarnessError(f"no AWS credentials for stage {target.stage} ({action})", field=where,
                            fix=f"set {profile_variable(target.stage)} in .env to a configured profile (or, with KAMIWAZA_REGISTRY_ENDPOINT, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(error, EndpointConnectionError) or type(error).__name__ in ("ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        if target.endpoint:
            return HarnessError(f"cannot reach {target.endpoint} ({action}): {error}", field="KAMIWAZA_REGISTRY_ENDPOINT",
                                fix="start the server (`make moto-server` for local tries) or correct KAMIWAZA_REGISTRY_ENDPOINT", exit_code=EXIT_BAD_INPUT)
        return HarnessError(f"cannot reach AWS S3 ({action}): {error}", fix="check the network connection and AWS_REGION", exit_code=EXIT_BAD_INPUT)
    if isinstance(error, ClientError):
        code = _code(error)
        message = str(error.response.get("Error", {}).get("Message", "")).rstrip(".")
        if code == "NoSuchBucket":
            return HarnessError(f'bucket "{target.bucket}" does not exist ({action})', field=target.bucket_variable,
                                fix=f"create the bucket or correct {target.bucket_variable}", exit_code=EXIT_BAD_INPUT)
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"):
            return HarnessError(f"S3 refused the credentials for stage {target.stage}: {code} ({action})",
                                field=target.profile_variable or "AWS_ACCESS_KEY_ID",
                                fix="refresh the profile's credentials (e.g. `aws sso login --profile ...`) or correct them in .env", exit_code=EXIT_BAD_INPUT)
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return HarnessError(f"access denied to {target.url()} ({action})", field=target.profile_variable or "AWS_ACCESS_KEY_ID",
                                fix=f"use a profile allowed to read and write {target.url()}", exit_code=EXIT_BAD_INPUT)
        return HarnessError(f"S3 {action} failed: {code or _status(error)} {message}", fix="retry; if it persists, check the bucket and the endpoint", exit_code=EXIT_FAILED)
    return HarnessError(f"S3 {action} failed: {error}", fix="retry; if it persists, check the bucket and the endpoint", exit_code=EXIT_FAILED)


# --------------------------------------------------------------------------- objects


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RemoteObject:
    name: str  # relative to the prefix, e.g. "apps.json", "images/x.svg"
    body: bytes
    etag: str

    @property
    def sha256(self) -> str:
        return sha256(self.body)


Snapshot = Mapping[str, RemoteObject]  # relative name -> object


def _backoff(attempt: int, base: float = 0.1, cap: float = 3.0) -> float:
    return min(cap, base * (1.6 ** attempt)) * random.uniform(0.75, 1.25)


class Remote:
    """One stage's registry objects in S3, through a boto3 client."""

    def __init__(self, client: Any, target: Target, *, sleep: Callable[[float], None] = time.sleep, conflict_retries: int = 6) -> None:
        self.client = client
        self.target = target
        self.sleep = sleep
        self.conflict_retries = conflict_retries

    # keys
    def key(self, name: str) -> str:
        return f"{self.target.prefix}/{name}"

    def _call(self, action: str, function: Callable[..., Any], **params: Any) -> Any:
        """Call boto3; retry 409 ConditionalRequestConflict with backoff; explain other errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        attempt = 0
        while True:
            try:
                return function(Bucket=self.target.bucket, **params)
            except ClientError as error:
                if _is_conflict(error) and attempt < self.conflict_retries:
                    self.sleep(_backoff(attempt))
                    attempt += 1
                    continue
                if _is_precondition(error):
                    raise ConditionFailed(params.get("Key", "?"), _condition_of(params)) from None
                if _is_missing(error):
                    raise KeyError(params.get("Key", "?")) from None
                raise explain(error, self.target, action) from None
            except BotoCoreError as error:
                raise explain(error, self.target, action) from None

    # reads
    def list(self) -> dict[str, str]:
        """Relative name -> ETag of every registry object (the lock excluded)."""
        found: dict[str, str] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Prefix": self.target.prefix + "/"}
            if token:
                params["ContinuationToken"] = token
            page = self._call(f"listing {self.target.url()}", self.client.list_objects_v2, **params)
            for item in page.get("Contents", []):
                name = item["Key"][len(self.target.prefix) + 1 :]
                if name and name != LOCK_NAME and not name.endswith("/"):
                    found[name] = item["ETag"]
            if not page.get("IsTruncated"):
                return found
            token = page.get("NextContinuationToken")

    def get(self, name: str) -> RemoteObject | None:
        try:
            response = self._call(f"reading {self.target.url(name)}", self.client.get_object, Key=self.key(name))
        except KeyError:
            return None
        return RemoteObject(name, response["Body"].read(), response["ETag"])

    def snapshot(self) -> dict[str, RemoteObject]:
        """Every registry object with its bytes and ETag (the lock excluded)."""
        objects: dict[str, RemoteObject] = {}
        for name in sorted(self.list()):
            item = self.get(name)
            if item is not None:  # deleted between list and get: it is not part of the state
                objects[name] = item
        return objects

    # writes
    def put(self, name: str, body: bytes, *, expect: str | None) -> str:
        """Write an object; `expect` is the ETag it must have, ABSENT, or None (unconditional).

        Returns the new ETag; raises ConditionFailed when the object changed meanwhile.
        """
        params: dict[str, Any] = {"Key": self.key(name), "Body": body, "ContentType": _content_type(name)}
        if expect == ABSENT:
            params["IfNoneMatch"] = "*"
        elif expect is not None:
            params["IfMatch"] = expect
        try:
            response = self._call(f"writing {self.target.url(name)}", self.client.put_object, **params)
        except KeyError:  # IfMatch on an object that no longer exists
            raise ConditionFailed(self.key(name), "If-Match", "the object no longer exists") from None
        return response["ETag"]

    def delete(self, name: str, *, expect: str | None) -> None:
        params: dict[str, Any] = {"Key": self.key(name)}
        if expect is not None:
            params["IfMatch"] = expect
        try:
            self._call(f"deleting {self.target.url(name)}", self.client.delete_object, **params)
        except KeyError:
            if expect is not None:
                raise ConditionFailed(self.key(name), "If-Match", "the object no longer exists") from None

    # ---------------------------------------------------------------- the probe
    def probe_conditional_writes(self) -> None:
        """Stop unless the store refuses conditional writes that must fail.

        Writes one probe object outside the registry prefix, then checks that a
        second `IfNoneMatch='*'` write, an `IfMatch` write with a wrong ETag and
        an `IfMatch` delete with a wrong ETag are each refused (412).
        """
        key = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
        wrong = '"00000000000000000000000000000000"'
        ignored: list[str] = []
        probe = Remote(self.client, Target(**{**self.target.__dict__, "prefix": PROBE_PREFIX}), sleep=self.sleep)
        name = key.rsplit("/", 1)[1]
        try:
            try:
                probe.put(name, b"probe 1", expect=ABSENT)
            except HarnessError as error:
                raise HarnessError(
                    f"{self.target.endpoint or 'S3'} rejected a conditional write (PutObject with If-None-Match: *): {error.problems[0].message}",
                    fix="publish to a store that supports conditional writes (AWS S3, moto >= 5, a recent MinIO)",
                    exit_code=EXIT_FAILED,
                ) from None
            for label, attempt in (
                ("If-None-Match: * on PutObject", lambda: probe.put(name, b"probe 2", expect=ABSENT)),
                ("If-Match on PutObject", lambda: probe.put(name, b"probe 3", expect=wrong)),
                ("If-Match on DeleteObject", lambda: probe.delete(name, expect=wrong)),
            ):
                try:
                    attempt()
                    ignored.append(label)
                except ConditionFailed:
                    pass
        finally:
            try:
                probe.delete(name, expect=None)
            except HarnessError:
                pass
        if ignored:
            raise HarnessError(
                f"{self.target.endpoint or 'S3'} ignores {', '.join(ignored)} (a write that had to be refused was accepted on s3://{self.target.bucket}/{key}): "
                "the lock and the conditional uploads would not protect the registry, so nothing was published",
                fix="publish to a store that honours conditional writes (AWS S3, moto >= 5, a recent MinIO)",
                exit_code=EXIT_FAILED,
            )

    # ---------------------------------------------------------------- the lock
    def read_lock(self) -> "Lock | None":
        item = self.get(LOCK_NAME)
        return None if item is None else Lock.parse(item.body, item.etag)

    def try_acquire(self, owner: str, ttl: float, *, now: datetime | None = None) -> "Lock | None":
        """Create the lock if there is none; None when someone holds it."""
        lock = Lock.new(owner, ttl, now=now)
        try:
            etag = self.put(LOCK_NAME, lock.body(), expect=ABSENT)
        except ConditionFailed:
            return None
        return lock.with_etag(etag)

    def acquire(
        self,
        owner: str,
        *,
        ttl: float = DEFAULT_LOCK_TTL,
        timeout: float = 0.0,
        on_wait: Callable[["Lock"], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> "Lock":
        """Take the lock, waiting up to `timeout` seconds (0: fail at once) with backoff."""
        deadline = clock() + timeout
        attempt = 0
        told = False
        while True:
            lock = self.try_acquire(owner, ttl)
            if lock is not None:
                held = self.read_lock()
                if held is None or held.token != lock.token:  # a store that ignored If-None-Match
                    raise HarnessError(f"the lock {self.target.url(LOCK_NAME)} was overwritten right after it was taken; conditional writes are not reliable here",
                                       fix="publish to a store that honours conditional writes", exit_code=EXIT_FAILED)
                return lock.with_etag(held.etag)
            holder = self.read_lock()
            if holder is None:  # released between our write and our read: try again now
                continue
            remaining = deadline - clock()
            if remaining <= 0:
                raise lock_held_error(self.target, holder, waited=timeout)
            if on_wait is not None and not told:
                on_wait(holder)
                told = True
            self.sleep(min(remaining, _backoff(attempt, base=0.25, cap=3.0)))
            attempt += 1

    def release(self, lock: "Lock") -> str:
        """Delete the lock only if it is still ours (IfMatch of its ETag); say what happened."""
        try:
            self.delete(LOCK_NAME, expect=lock.etag)
        except ConditionFailed as error:
            return f"the lock was no longer ours ({error}); left it as it is"
        return f"released the lock {self.target.url(LOCK_NAME)} (token {lock.token})"

    def remove_lock(self, lock_id: str | None = None) -> "Lock | None":
        """Remove the current lock (only the one with token `lock_id`, when given)."""
        lock = self.read_lock()
        if lock is None:
            return None
        if lock_id and lock.token != lock_id:
            raise HarnessError(
                f"the lock {self.target.url(LOCK_NAME)} has token {lock.token}, not {lock_id}; it was not removed ({lock.describe()})",
                field="LOCK_ID",
                fix="check who holds it; run without LOCK_ID to remove whatever lock is there, or pass its token",
                exit_code=EXIT_FAILED,
            )
        try:
            self.delete(LOCK_NAME, expect=lock.etag)
        except ConditionFailed:
            raise HarnessError(f"the lock {self.target.url(LOCK_NAME)} changed while it was being removed; nothing was removed",
                               fix="run the command again to see the current lock", exit_code=EXIT_FAILED) from None
        return lock


def _condition_of(params: Mapping[str, Any]) -> str:
    if "IfNoneMatch" in params:
        return "If-None-Match: *"
    if "IfMatch" in params:
        return f"If-Match: {params['IfMatch']}"
    return "a precondition"


def _content_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return {
        ".json": "application/json",
        ".lock": "application/json",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".gif": "image/gif",
        ".webp": "image/webp",
    }.get(suffix, "application/octet-stream")


# --------------------------------------------------------------------------- lock body


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _format(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.strptime(str(text), TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in containers without /etc/passwd entries
        return os.environ.get("USER") or "unknown"


@dataclass(frozen=True)
class Lock:
    """The lock object's body `{owner, host, pid, acquired_at, expires_at, token}` and its ETag."""

    owner: str
    host: str
    pid: int | str
    acquired_at: str
    expires_at: str
    token: str
    etag: str = ""
    readable: bool = True

    @staticmethod
    def new(owner: str, ttl: float, *, now: datetime | None = None) -> "Lock":
        moment = now or _now()
        return Lock(owner=owner, host=socket.gethostname(), pid=os.getpid(), acquired_at=_format(moment),
                    expires_at=_format(moment + timedelta(seconds=ttl)), token=uuid.uuid4().hex)

    @staticmethod
    def parse(body: bytes, etag: str) -> "Lock":
        try:
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            return Lock("unknown", "unknown", "?", "?", "?", "?", etag, readable=False)
        return Lock(
            owner=str(data.get("owner", "unknown")), host=str(data.get("host", "unknown")), pid=data.get("pid", "?"),
            acquired_at=str(data.get("acquired_at", "?")), expires_at=str(data.get("expires_at", "?")),
            token=str(data.get("token", "?")), etag=etag,
        )

    def body(self) -> bytes:
        data = {"owner": self.owner, "host": self.host, "pid": self.pid, "acquired_at": self.acquired_at,
                "expires_at": self.expires_at, "token": self.token}
        return fileio.canonical_json(data)

    def with_etag(self, etag: str) -> "Lock":
        return Lock(**{**self.__dict__, "etag": etag})

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
        text = f"held by {self.owner} on {self.host} (pid {self.pid}) since {self.acquired_at}, expires {self.expires_at}, token {self.token}"
        late = self.stale_for(now)
        if late is not None:
            text += f"; it is STALE: {_duration(late)} past expires_at (a publish probably died without releasing it)"
        return text


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {seconds}s"


def lock_held_error(target: Target, lock: Lock, *, waited: float = 0.0) -> HarnessError:
    waited_text = f" after waiting {waited:g}s" if waited > 0 else ""
    lock_id = f" LOCK_ID={lock.token}" if lock.readable else ""
    return HarnessError(
        f"the registry lock {target.url(LOCK_NAME)} is {lock.describe()}{waited_text}; "
        "another publish is in progress or a previous one failed. A stale lock is never taken over automatically",
        field="registry.lock",
        fix=(f"wait for that publish (or set LOCK_TIMEOUT=<seconds> to wait), or, after investigating, "
             f"`make remove-publish-lock STAGE={target.stage}{lock_id}`"),
        exit_code=EXIT_FAILED,
    )


# --------------------------------------------------------------------------- backup, verify, restore


def backup(remote: Remote, root: Path, stage: str) -> tuple[dict[str, RemoteObject], Path]:
    """Every remote registry object -> build/registry-backups/{stage}/{timestamp}/ (and in memory, with ETags)."""
    snapshot = remote.snapshot()
    folder = new_backup_dir(root, stage)
    write_snapshot(snapshot, folder)
    return snapshot, folder


def verify(remote: Remote, expected: Mapping[str, bytes | None]) -> None:
    """Read every object back: its sha256 must be the expected bytes' (None: it must be absent)."""
    bad: list[str] = []
    for name, body in expected.items():
        current = remote.get(name)
        if body is None:
            if current is not None:
                bad.append(f"{name} still exists")
        elif current is None:
            bad.append(f"{name} is missing")
        elif current.sha256 != sha256(body):
            bad.append(f"{name}: sha256 {current.sha256[:12]} on S3, {sha256(body)[:12]} uploaded")
    if bad:
        raise HarnessError("verify failed: " + "; ".join(bad), fix="publish again; if it repeats, check the bucket", exit_code=EXIT_FAILED)


def restore(remote: Remote, snapshot: Snapshot, written: Mapping[str, bytes | None]) -> list[str]:
    """Undo writes: every object in `written` (name -> the bytes written, None for a delete) gets its
    snapshot bytes back, or is deleted when the snapshot lacks it, but only while it still holds
    what was written (each write conditional on the ETag just read). Then verify the restored ones.
    Returns the objects left alone because someone else changed them."""
    leftovers: list[str] = []
    restored: dict[str, bytes | None] = {}
    for name, body in reversed(list(written.items())):
        before = snapshot.get(name)
        current = remote.get(name)
        if (current.body if current else None) == (before.body if before else None):
            continue  # never written, or already as it was
        if (current.body if current else None) != body:
            leftovers.append(f"{name} (now {current.sha256[:12] if current else 'absent'})")
            continue
        try:
            if before is None:
                remote.delete(name, expect=current.etag if current else None)
            else:
                remote.put(name, before.body, expect=current.etag if current else ABSENT)
        except ConditionFailed:
            leftovers.append(f"{name} (changed during the restore)")
            continue
        restored[name] = before.body if before else None
    verify(remote, restored)
    return leftovers


# --------------------------------------------------------------------------- local folders


def timestamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")


def new_backup_dir(root: Path, stage: str, now: datetime | None = None) -> Path:
    """`build/registry-backups/{stage}/{YYYYMMDD-HHMMSS}/` (UTC), never an existing one."""
    parent = Path(root) / "build" / "registry-backups" / stage
    parent.mkdir(parents=True, exist_ok=True)
    stamp = timestamp(now)
    for suffix in ["", *(f"-{n}" for n in range(2, 1000))]:
        candidate = parent / f"{stamp}{suffix}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise HarnessError(f"cannot create a backup folder under {parent}", file=parent, fix="remove old backups")


def write_snapshot(snapshot: Snapshot, folder: Path) -> None:
    """Write objects as files mirroring the remote layout (so `aws s3 sync FOLDER s3://.../garden/v2/ --delete` restores)."""
    folder = Path(folder)
    for name, item in snapshot.items():
        path = folder.joinpath(*PurePosixPath(name).parts)
        if ".." in PurePosixPath(name).parts or PurePosixPath(name).is_absolute():
            raise HarnessError(f"remote object name {name!r} is not a safe relative path", fix="remove that object from the bucket")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.body)


def replace_folder(snapshot: Snapshot, folder: Path) -> None:
    """Write a snapshot into `folder`, replacing it as a whole (temp folder, then rename)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write_snapshot(snapshot, staging)
        aside = None
        if folder.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
            os.rename(folder, aside / folder.name)
        os.rename(staging, folder)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` as relative POSIX name -> bytes."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
