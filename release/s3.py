"""The S3 edge: settings for a stage, objects with ETags, the lock, backups, verify.

Remote layout (bucket per stage):

    s3://{bucket}/garden/v2/apps.json, tools.json, images/*          the registry
    s3://{bucket}/garden/v2/registry.lock                            the publish lock (release.registry_lock)
    s3://{bucket}/garden/v2-backups/{stage}/{timestamp}/...          the registry before each publish
    s3://{bucket}/garden/v2-backups/{stage}/{timestamp}.json         that backup's manifest (name -> sha256)
    s3://{bucket}/garden/.conditional-write-probe/{time}-{token}     short-lived probe objects

Every write that could race is conditional: the lock is created with
`IfNoneMatch='*'` and deleted with `IfMatch` of its ETag; registry objects are
written with `IfMatch` of the ETag read before (`IfNoneMatch='*'` when absent).
A conditional write whose answer was lost is retried by botocore and then
meets its own write (412): `put` reads the object back and, when it already
holds the bytes being written, counts the write as done. A store that ignores
the conditions would make all of that useless, so `probe_conditional_writes`
checks, before a publish takes the lock, that the store refuses conditional
writes that must fail.

Every request has a connect and read timeout and a bounded number of attempts
(S3_CONNECT_TIMEOUT, S3_READ_TIMEOUT, S3_MAX_ATTEMPTS), so no wait is unbounded;
every failure is classified (`S3Failure.kind`) with its own message and fix.

boto3 only. Credentials come from the stage's AWS profile, or, with an
endpoint and no profile (moto, MinIO), from AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN] in the environment or `.env`. No
credential is ever printed: errors name the variable, never its value, and a
user:password in the endpoint URL is redacted in every message.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

from release import fileio, registry
from release.config import Settings, parse_seconds
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError
from release.registry_lock import Lock, PlanItem, explain as explain_lock_lines, make, printable, status as plan_status

GARDEN_PREFIX = f"garden/{registry.GARDEN_DIR}"
BACKUP_PREFIX = f"{GARDEN_PREFIX}-backups"  # beside the garden, never inside it
LOCK_NAME = "registry.lock"
PROBE_PREFIX = "garden/.conditional-write-probe"
PROBE_MAX_AGE = 600.0  # a probe lives seconds; one older than this was left by a killed publisher
DEFAULT_REGION = "us-east-1"
DEFAULT_LOCK_TTL = 1800.0
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
MAX_ATTEMPTS = 3  # 3 x (5 s connect | 10 s read) plus backoff: a hung request fails well under a minute
ABSENT = "<absent>"  # `expect` value: the object must not exist (IfNoneMatch='*')
Hook = Callable[[str], None]

_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


def redact(text: str) -> str:
    """Any `scheme://user:password@host` in `text` with the user information replaced by `***`."""
    return _USERINFO.sub("***@", str(text))


def _no_hook(point: str) -> None:
    return None


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
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    attempts: int = MAX_ATTEMPTS

    def url(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}/{name}"

    @property
    def shown_endpoint(self) -> str | None:
        return redact(self.endpoint) if self.endpoint else None

    def describe(self) -> str:
        via = f"profile {self.profile}" if self.profile else "credentials from the environment"
        where = f" at {self.shown_endpoint}" if self.endpoint else ""
        return f"{self.url()} (stage {self.stage}, {via}{where})"

    def at(self, prefix: str) -> "Target":
        return replace(self, prefix=prefix)


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
    attempts = parse_seconds("S3_MAX_ATTEMPTS", settings.get("S3_MAX_ATTEMPTS"), MAX_ATTEMPTS)
    return Target(stage=stage, bucket=bucket, profile=profile, profile_variable=variable if profile else None,
                  endpoint=endpoint, region=region, bucket_variable=bucket_variable,
                  connect_timeout=parse_seconds("S3_CONNECT_TIMEOUT", settings.get("S3_CONNECT_TIMEOUT"), CONNECT_TIMEOUT),
                  read_timeout=parse_seconds("S3_READ_TIMEOUT", settings.get("S3_READ_TIMEOUT"), READ_TIMEOUT),
                  attempts=max(1, int(attempts)))


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
            retries={"total_max_attempts": target.attempts, "mode": "standard"},
            connect_timeout=target.connect_timeout,
            read_timeout=target.read_timeout,
            s3={"addressing_style": "path"} if target.endpoint else None,
        )
        return session.client("s3", endpoint_url=target.endpoint, config=config)
    except ProfileNotFound:
        raise HarnessError(
            f'AWS profile "{target.profile}" is not configured on this machine',
            field=target.profile_variable,
            fix=f"add the profile to ~/.aws/config (aws configure sso, or credentials), or correct {target.profile_variable} in .env",
        ) from None
    except (BotoCoreError, ValueError) as error:  # e.g. a malformed endpoint URL
        raise HarnessError(f"cannot create an S3 client: {redact(str(error))}", field="KAMIWAZA_REGISTRY_ENDPOINT",
                           fix="check KAMIWAZA_REGISTRY_ENDPOINT and the AWS settings in .env") from None


# --------------------------------------------------------------------------- errors


class ConditionFailed(Exception):
    """A conditional request was refused: the object is not in the state we expected."""

    def __init__(self, name: str, condition: str, detail: str = "") -> None:
        self.name = name
        self.condition = condition
        super().__init__(f"{name}: {condition} did not hold{': ' + detail if detail else ''}")


class S3Failure(HarnessError):
    """An S3 request that failed for a reason a person must see: `kind` says which one."""

    def __init__(self, kind: str, message: str, *, fix: str, field: str | None = None, exit_code: int = EXIT_FAILED, code: str = "") -> None:
        self.kind = kind
        self.code = code
        super().__init__(redact(message), fix=redact(fix), field=field, exit_code=exit_code)


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


_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "InvalidClientTokenId")
_UNSUPPORTED_CODES = ("NotImplemented", "501")
_SERVER_CODES = ("InternalError", "ServiceUnavailable", "SlowDown", "500", "502", "503", "504", "BadGateway", "GatewayTimeout")


def explain(error: Exception, target: Target, action: str) -> S3Failure:
    """A boto error as one classified failure a person can act on (never with credentials)."""
    from botocore.exceptions import (ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError,
                                     FlexibleChecksumError, NoCredentialsError, PartialCredentialsError, ReadTimeoutError)

    where = target.shown_endpoint or "AWS S3"
    tries = f"{target.attempts} attempt{'s' if target.attempts != 1 else ''}"
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        variable = target.profile_variable or "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        return S3Failure("credentials", f"no AWS credentials for stage {target.stage} ({action})", field=variable, exit_code=EXIT_BAD_INPUT,
                         fix=f"set {profile_variable(target.stage)} in .env to a configured profile (or, with KAMIWAZA_REGISTRY_ENDPOINT, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(error, FlexibleChecksumError):
        return S3Failure("checksum", f"the bytes received from {where} do not match their checksum ({action}, {tries}): the response was corrupted on the way",
                         fix="retry; if it repeats, check the network path (proxy, VPN) to the store")
    if isinstance(error, ReadTimeoutError):
        return S3Failure("timeout", f"{where} did not answer within {target.read_timeout:g}s ({action}, {tries}); the request may or may not have taken effect",
                         fix="retry when the store answers again (S3_READ_TIMEOUT sets the wait); a publish that stopped part-way is explained by the next command")
    if isinstance(error, ConnectionClosedError):
        return S3Failure("lost-response", f"the connection to {where} closed before its answer arrived ({action}, {tries}): the response was lost, the request may or may not have taken effect",
                         fix="retry; a publish that stopped part-way is explained by the next command")
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        if target.endpoint:
            return S3Failure("unreachable", f"cannot reach {where} ({action}, {tries}): nothing answers there", field="KAMIWAZA_REGISTRY_ENDPOINT", exit_code=EXIT_BAD_INPUT,
                             fix="start the server (`make moto-server` for local tries) or correct KAMIWAZA_REGISTRY_ENDPOINT")
        return S3Failure("unreachable", f"cannot reach AWS S3 ({action}, {tries})", exit_code=EXIT_BAD_INPUT, fix="check the network connection and AWS_REGION")
    if isinstance(error, ClientError):
        code = _code(error) or str(_status(error))
        message = printable(str(error.response.get("Error", {}).get("Message", "")).rstrip("."))
        if code == "NoSuchBucket":
            return S3Failure("no-bucket", f'bucket "{target.bucket}" does not exist ({action})', field=target.bucket_variable, exit_code=EXIT_BAD_INPUT, code=code,
                             fix=f"create the bucket or correct {target.bucket_variable}")
        if code in _CREDENTIAL_CODES:
            return S3Failure("credentials", f"S3 refused the credentials for stage {target.stage}: {code} ({action})", code=code,
                             field=target.profile_variable or "AWS_ACCESS_KEY_ID", exit_code=EXIT_BAD_INPUT,
                             fix="refresh the profile's credentials (e.g. `aws sso login --profile ...`) or correct them in .env")
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return S3Failure("denied", f"access denied to {target.url()} ({action})", field=target.profile_variable or "AWS_ACCESS_KEY_ID", code=code,
                             exit_code=EXIT_BAD_INPUT, fix=f"use a profile allowed to read and write {target.url()}")
        if code in _UNSUPPORTED_CODES or _status(error) == 501:
            return S3Failure("unsupported", f"{where} does not support this request ({action}): {code} {message}", code=code,
                             fix="publish to a store that supports conditional writes (AWS S3, moto >= 5, a recent MinIO)")
        if code in _SERVER_CODES or _status(error) >= 500:
            return S3Failure("server", f"{where} failed the request ({action}, {tries}): {code} {message}", code=code,
                             fix="retry later; a publish that stopped part-way is explained by the next command")
        return S3Failure("other", f"S3 {action} failed: {code} {message}", code=code, fix="retry; if it persists, check the bucket and the endpoint")
    return S3Failure("other", f"S3 {action} failed: {type(error).__name__}: {printable(error)}", fix="retry; if it persists, check the bucket and the endpoint")


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


def odd_names(names: Sequence[str]) -> list[tuple[str, str]]:
    """Remote names a folder cannot mirror, each (the key to remove, why): a name that is also
    another name's folder (`images` beside `images/x.svg`), or not a clean relative path."""
    found: list[tuple[str, str]] = []
    present = set(names)
    for name in sorted(present):
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or path.as_posix() != name or "\\" in name:
            found.append((name, f"{name!r} is not a clean relative path"))
            continue
        for depth in range(1, len(path.parts)):
            folder = "/".join(path.parts[:depth])
            if folder in present:
                found.append((folder, f"{folder!r} is both a file and the folder of {name!r}"))
    return list(dict.fromkeys(found))


def _backoff(attempt: int, base: float = 0.1, cap: float = 3.0) -> float:
    return min(cap, base * (1.6 ** attempt)) * random.uniform(0.75, 1.25)


def _etag_mismatch(body: bytes, etag: str, response: Mapping[str, Any]) -> bool:
    """True when a plain ETag (the MD5 of a single-part, non-KMS object) disagrees with the bytes received."""
    plain = etag.strip('"')
    if not re.fullmatch(r"[0-9a-f]{32}", plain) or response.get("ServerSideEncryption", "").startswith("aws:kms") or response.get("SSECustomerAlgorithm"):
        return False
    return hashlib.md5(body).hexdigest() != plain


class Remote:
    """One stage's registry objects in S3, through a boto3 client."""

    def __init__(self, client: Any, target: Target, *, sleep: Callable[[float], None] = time.sleep, conflict_retries: int = 6,
                 on_call: Hook = _no_hook) -> None:
        self.client = client
        self.target = target
        self.sleep = sleep
        self.conflict_retries = conflict_retries
        self.on_call = on_call  # called before every S3 request ("s3:put_object:<key>"): tests stop a publisher there

    def at(self, prefix: str) -> "Remote":
        """The same bucket and client under another prefix (backups, probes)."""
        return Remote(self.client, self.target.at(prefix), sleep=self.sleep, conflict_retries=self.conflict_retries, on_call=self.on_call)

    # keys
    def key(self, name: str) -> str:
        return f"{self.target.prefix}/{name}"

    def _call(self, action: str, function: Callable[..., Any], **params: Any) -> Any:
        """Call boto3; retry 409 ConditionalRequestConflict with backoff; explain other errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        attempt = 0
        while True:
            self.on_call(f"s3:{getattr(function, '__name__', 'call')}:{params.get('Key', params.get('Prefix', ''))}")
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
    def list_keys(self) -> dict[str, Mapping[str, Any]]:
        """Relative name -> listing item (ETag, LastModified) of every object under the prefix."""
        found: dict[str, Mapping[str, Any]] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Prefix": self.target.prefix + "/"}
            if token:
                params["ContinuationToken"] = token
            page = self._call(f"listing {self.target.url()}", self.client.list_objects_v2, **params)
            for item in page.get("Contents", []):
                name = item["Key"][len(self.target.prefix) + 1 :]
                if name and not name.endswith("/"):
                    found[name] = item
            if not page.get("IsTruncated"):
                return found
            token = page.get("NextContinuationToken")

    def list(self) -> dict[str, str]:
        """Relative name -> ETag of every registry object (the lock excluded)."""
        return {name: item["ETag"] for name, item in self.list_keys().items() if name != LOCK_NAME}

    def get(self, name: str) -> RemoteObject | None:
        """The object, or None when absent; a body that fails its checksum is read again (3 times in all)."""
        from botocore.exceptions import BotoCoreError

        action = f"reading {self.target.url(name)}"
        failure: S3Failure | None = None
        for _ in range(3):
            try:
                response = self._call(action, self.client.get_object, Key=self.key(name))
            except KeyError:
                return None
            try:
                body = response["Body"].read()
            except BotoCoreError as error:  # FlexibleChecksumError, or the connection dropped mid-body
                failure = explain(error, self.target, action)
                continue
            if _etag_mismatch(body, response["ETag"], response):
                failure = S3Failure("checksum", f"the bytes received for {self.target.url(name)} do not match their ETag (MD5): the response was corrupted on the way",
                                    fix="retry; if it repeats, check the network path (proxy, VPN) to the store")
                continue
            return RemoteObject(name, body, response["ETag"])
        assert failure is not None
        raise failure

    def snapshot(self) -> dict[str, RemoteObject]:
        """Every registry object with its bytes and ETag (the lock excluded)."""
        names = sorted(self.list())
        odd = odd_names(names)
        if odd:
            raise HarnessError(
                f"the remote registry {self.target.url()} holds keys that cannot be mirrored as files: " + "; ".join(printable(why) for _, why in odd),
                fix="remove the stray keys after checking them: " + "; ".join(f"`aws s3 rm {_quote(self.target.url(key))}`" for key in dict.fromkeys(k for k, _ in odd)),
                exit_code=EXIT_FAILED)
        objects: dict[str, RemoteObject] = {}
        for name in names:
            item = self.get(name)
            if item is not None:  # deleted between list and get: it is not part of the state
                objects[name] = item
        return objects

    def hashes(self, names: Sequence[str]) -> dict[str, str | None]:
        """The sha256 of each named object now (None: absent)."""
        found: dict[str, str | None] = {}
        for name in names:
            item = self.get(name)
            found[name] = item.sha256 if item is not None else None
        return found

    # writes
    def put(self, name: str, body: bytes, *, expect: str | None) -> str:
        """Write an object; `expect` is the ETag it must have, ABSENT, or None (unconditional).

        Returns the new ETag; raises ConditionFailed when the object changed meanwhile. A refusal
        met because botocore retried our own write after its answer was lost is no refusal: the
        object holds our bytes, so the write is done.
        """
        params: dict[str, Any] = {"Key": self.key(name), "Body": body, "ContentType": _content_type(name)}
        if expect == ABSENT:
            params["IfNoneMatch"] = "*"
        elif expect is not None:
            params["IfMatch"] = expect
        try:
            try:
                response = self._call(f"writing {self.target.url(name)}", self.client.put_object, **params)
            except KeyError:  # IfMatch on an object that no longer exists
                raise ConditionFailed(self.key(name), "If-Match", "the object no longer exists") from None
        except ConditionFailed:
            current = self.get(name)
            if current is not None and current.body == body:
                return current.etag
            raise
        return response["ETag"]

    def delete(self, name: str, *, expect: str | None) -> None:
        """Delete an object (only while its ETag is `expect`, when given); already absent counts as deleted."""
        params: dict[str, Any] = {"Key": self.key(name)}
        if expect is not None:
            params["IfMatch"] = expect
        try:
            self._call(f"deleting {self.target.url(name)}", self.client.delete_object, **params)
        except KeyError:
            return
        except ConditionFailed:
            if self.get(name) is None:  # our own delete, retried after its answer was lost
                return
            raise

    # ---------------------------------------------------------------- the probe
    def clean_probes(self, *, now: datetime | None = None, max_age: float | None = None) -> int:
        """Delete probe objects left by publishers killed while probing (older than `max_age`, default PROBE_MAX_AGE)."""
        max_age = PROBE_MAX_AGE if max_age is None else max_age
        probes = self.at(PROBE_PREFIX)
        moment = now or datetime.now(timezone.utc)
        removed = 0
        for name, item in probes.list_keys().items():
            born = _probe_time(name) or item.get("LastModified")
            if isinstance(born, datetime) and (moment - born).total_seconds() > max_age:
                probes.delete(name, expect=None)
                removed += 1
        return removed

    def probe_conditional_writes(self) -> None:
        """Stop unless the store refuses conditional writes that must fail.

        Writes one probe object outside the registry prefix, then checks that a
        second `IfNoneMatch='*'` write, an `IfMatch` write with a wrong ETag and
        an `IfMatch` delete with a wrong ETag are each refused (412). The probe
        object is deleted on every path; one left by a killed publisher is
        deleted by `clean_probes` of a later publish.
        """
        name = f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex}"
        wrong = '"00000000000000000000000000000000"'
        ignored: list[str] = []
        probe = self.at(PROBE_PREFIX)
        try:
            try:
                probe.put(name, b"probe 1", expect=ABSENT)  # a retry after a lost answer meets our own probe: done
            except ConditionFailed:
                raise HarnessError(f"the new probe object {probe.target.url(name)} already existed with other bytes; the store's conditional writes are unreliable",
                                   fix="publish to a store that honours conditional writes (AWS S3, moto >= 5, a recent MinIO)", exit_code=EXIT_FAILED) from None
            except S3Failure as error:
                if error.kind not in ("unsupported", "other"):
                    raise
                raise HarnessError(
                    f"{self.target.shown_endpoint or 'S3'} rejected a conditional write (PutObject with If-None-Match: *): {error.problems[0].message}",
                    fix="publish to a store that supports conditional writes (AWS S3, moto >= 5, a recent MinIO)",
                    exit_code=EXIT_FAILED,
                ) from None
            for label, attempt in (
                ("If-None-Match: * on PutObject", lambda: probe._call("probing", probe.client.put_object, Key=probe.key(name), Body=b"probe 2", IfNoneMatch="*")),
                ("If-Match on PutObject", lambda: probe._call("probing", probe.client.put_object, Key=probe.key(name), Body=b"probe 3", IfMatch=wrong)),
                ("If-Match on DeleteObject", lambda: probe._call("probing", probe.client.delete_object, Key=probe.key(name), IfMatch=wrong)),
            ):
                try:
                    attempt()
                    ignored.append(label)
                except (ConditionFailed, KeyError):
                    pass
        finally:
            try:
                probe.delete(name, expect=None)
            except (HarnessError, ConditionFailed):
                pass  # a later publish removes it (clean_probes)
        if ignored:
            raise HarnessError(
                f"{self.target.shown_endpoint or 'S3'} ignores {', '.join(ignored)} (a write that had to be refused was accepted on s3://{self.target.bucket}/{PROBE_PREFIX}/{name}): "
                "the lock and the conditional uploads would not protect the registry, so nothing was published",
                fix="publish to a store that honours conditional writes (AWS S3, moto >= 5, a recent MinIO)",
                exit_code=EXIT_FAILED,
            )

    # ---------------------------------------------------------------- the lock
    def read_lock(self) -> Lock | None:
        item = self.get(LOCK_NAME)
        return None if item is None else Lock.parse(item.body, item.etag)

    def try_acquire(self, owner: str, ttl: float, *, now: datetime | None = None, operation: str = "publish-registry") -> Lock | None:
        """Create the lock if there is none; None when someone else holds it.

        A refusal met by our own retried write (its first answer lost) finds a lock with our
        token: that lock is ours."""
        lock = Lock.new(owner, ttl, now=now, operation=operation)
        try:
            etag = self.put(LOCK_NAME, lock.body(), expect=ABSENT)
        except ConditionFailed:
            held = self.read_lock()
            if held is not None and held.token == lock.token:
                return lock.with_etag(held.etag)
            return None
        return lock.with_etag(etag)

    def acquire(
        self,
        owner: str,
        *,
        ttl: float = DEFAULT_LOCK_TTL,
        timeout: float = 0.0,
        on_wait: Callable[[Lock], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        operation: str = "publish-registry",
    ) -> Lock:
        """Take the lock, waiting up to `timeout` seconds (0: fail at once) with backoff."""
        deadline = clock() + timeout
        attempt = 0
        told = False
        while True:
            lock = self.try_acquire(owner, ttl, operation=operation)
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
                raise lock_held_error(self, holder, waited=timeout)
            if on_wait is not None and not told:
                on_wait(holder)
                told = True
            self.sleep(min(remaining, _backoff(attempt, base=0.25, cap=3.0)))
            attempt += 1

    def take_over(self, lock_id: str, owner: str, *, ttl: float = DEFAULT_LOCK_TTL, operation: str = "publish-registry") -> tuple[Lock, Lock | None]:
        """Replace the lock whose token is `lock_id` by a new one of ours (IfMatch its ETag); with no lock, take a new one.

        Returns (our lock, the lock replaced). The operator names the token, so a lock is only ever taken
        over on purpose: a lock past expires_at may still have a live, slow writer."""
        while True:
            holder = self.read_lock()
            if holder is None:
                lock = self.try_acquire(owner, ttl, operation=operation)
                if lock is not None:
                    return lock, None
                continue
            if holder.token != lock_id:
                raise HarnessError(
                    f"LOCK_ID={printable(lock_id)} does not name the current lock, which is {holder.describe()}; nothing was taken over",
                    field="LOCK_ID", fix="read the lock's token in the message above and pass exactly that one", exit_code=EXIT_FAILED)
            lock = replace(Lock.new(owner, ttl, operation=operation), took_over=holder.token)
            try:
                etag = self.put(LOCK_NAME, lock.body(), expect=holder.etag)
            except ConditionFailed:
                continue  # the lock changed between our read and our write: look again
            return lock.with_etag(etag), holder

    def update_lock(self, lock: Lock, new: Lock) -> Lock:
        """Write a new body into our lock (IfMatch its ETag): the plan and the backup, before any registry write."""
        try:
            etag = self.put(LOCK_NAME, new.body(), expect=lock.etag)
        except ConditionFailed:
            raise HarnessError(f"the lock {self.target.url(LOCK_NAME)} was removed or taken over by someone else before this run wrote anything; nothing was written",
                               fix="see who holds it now (`make download-registry`), then run the command again", exit_code=EXIT_FAILED) from None
        return new.with_etag(etag)

    def put_back(self, lock: Lock, previous: Lock) -> None:
        """Replace our lock by the exact lock we took over (its plan still describes the registry)."""
        self.put(LOCK_NAME, previous.raw or previous.body(), expect=lock.etag)

    def release(self, lock: Lock) -> str:
        """Delete the lock only if it is still ours (IfMatch of its ETag); say what happened. S3 failures raise."""
        try:
            self.delete(LOCK_NAME, expect=lock.etag)
        except ConditionFailed as error:
            return f"the lock was no longer ours ({error}); left it as it is"
        return f"released the lock {self.target.url(LOCK_NAME)} (token {lock.token})"

    def remove_lock(self, lock_id: str | None = None) -> Lock | None:
        """Remove the current lock (only the one with token `lock_id`, when given)."""
        lock = self.read_lock()
        if lock is None:
            return None
        if lock_id and lock.token != lock_id:
            raise HarnessError(
                f"the lock {self.target.url(LOCK_NAME)} has token {printable(lock.token)}, not {printable(lock_id)}; it was not removed ({lock.describe()})",
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


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _probe_time(name: str) -> datetime | None:
    try:
        return datetime.strptime(name.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


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


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in containers without /etc/passwd entries
        return os.environ.get("USER") or "unknown"


# --------------------------------------------------------------------------- what a lock means


def lock_report(remote: Remote, lock: Lock, *, held: bool = True) -> list[str]:
    """What the lock's holder did to the registry (objects new/old/unknown) and the ways out."""
    statuses = None
    if lock.plan is not None:
        statuses = plan_status(lock.plan, remote.hashes([item.name for item in lock.plan]))
    return explain_lock_lines(lock, statuses, stage=remote.target.stage, url=remote.target.url(LOCK_NAME), held=held)


def lock_held_error(remote: Remote, lock: Lock, *, waited: float = 0.0) -> HarnessError:
    waited_text = f" (after waiting {waited:g}s)" if waited > 0 else ""
    lines = lock_report(remote, lock)
    remove = make("remove-publish-lock", STAGE=remote.target.stage, LOCK_ID=lock.token if lock.readable else None)
    return HarnessError(
        "\n".join([lines[0] + waited_text + "; another publish is in progress or a previous one stopped. A lock is never taken over without its LOCK_ID",
                   *lines[1:]]),
        field="registry.lock",
        fix=f"wait for that publish (or set LOCK_TIMEOUT=<seconds> to wait), or, after investigating, `{remove}`",
        exit_code=EXIT_FAILED,
    )


# --------------------------------------------------------------------------- backup, verify, restore


@dataclass(frozen=True)
class Backup:
    """The registry as it was before a write: in memory (with ETags), in build/ and in the bucket."""

    snapshot: Mapping[str, RemoteObject]
    folder: Path
    timestamp: str
    remote_url: str

    def describe(self) -> dict[str, str]:
        return {"timestamp": self.timestamp, "remote": self.remote_url, "local": str(self.folder)}


def backup_remote(remote: Remote, stage: str, stamp: str) -> Remote:
    return remote.at(f"{BACKUP_PREFIX}/{stage}/{stamp}")


def backup(remote: Remote, root: Path, stage: str) -> Backup:
    """Every registry object -> memory (with ETags) and build/registry-backups/{stage}/{ts}/.

    The timestamp is one no bucket backup of the stage uses yet; `backup_to_bucket` writes the
    bucket copy once a run knows it will write (a refused or no-op run leaves the bucket as it was)."""
    snapshot = remote.snapshot()
    manifests = remote.at(f"{BACKUP_PREFIX}/{stage}")
    while True:
        folder = new_backup_dir(root, stage)
        if manifests.get(f"{folder.name}.json") is None:
            break
    write_snapshot(snapshot, folder)
    return Backup(snapshot, folder, folder.name, backup_remote(remote, stage, folder.name).target.url())


def backup_to_bucket(remote: Remote, stage: str, saved: Backup, *, token: str = "", hook: Hook = _no_hook) -> None:
    """The backup -> s3://.../garden/v2-backups/{stage}/{ts}/, object by object, then its manifest
    (name -> sha256) last: a backup without a manifest is incomplete and never offered for a restore."""
    copy = backup_remote(remote, stage, saved.timestamp)
    for name, item in saved.snapshot.items():
        hook(f"backup:{name}")
        copy.put(name, item.body, expect=None)
    manifest = {"stage": stage, "timestamp": saved.timestamp, "source": remote.target.url(), "lock": token,
                "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "objects": {name: item.sha256 for name, item in sorted(saved.snapshot.items())}}
    remote.at(f"{BACKUP_PREFIX}/{stage}").put(f"{saved.timestamp}.json", fileio.canonical_json(manifest), expect=ABSENT)


def list_backups(remote: Remote, stage: str) -> list[str]:
    """The timestamps of the complete bucket backups of `stage`, oldest first."""
    names = remote.at(f"{BACKUP_PREFIX}/{stage}").list_keys()
    return sorted(name[: -len(".json")] for name in names if name.endswith(".json") and "/" not in name)


def read_backup(remote: Remote, stage: str, stamp: str) -> dict[str, bytes]:
    """A bucket backup's objects, each checked against its manifest's sha256."""
    manifests = remote.at(f"{BACKUP_PREFIX}/{stage}")
    item = manifests.get(f"{stamp}.json") if stamp and "/" not in stamp else None
    if item is None:
        available = list_backups(remote, stage)
        raise HarnessError(
            f"there is no backup {printable(stamp)} of stage {stage} at {manifests.target.url()}",
            field="BACKUP",
            fix=("pass one of: " + ", ".join(available[-10:])) if available else "no backups exist yet for this stage (a publish writes one)",
            exit_code=EXIT_BAD_INPUT)
    try:
        expected = json.loads(item.body)["objects"]
        if not isinstance(expected, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise HarnessError(f"the manifest {manifests.target.url(stamp + '.json')} is not readable", fix="choose another BACKUP", exit_code=EXIT_FAILED) from None
    copy = backup_remote(remote, stage, stamp)
    objects: dict[str, bytes] = {}
    bad: list[str] = []
    for name, digest in sorted(expected.items()):
        found = copy.get(name)
        if found is None or found.sha256 != digest:
            bad.append(f"{name} ({'missing' if found is None else 'sha256 ' + found.sha256[:12] + ', manifest ' + str(digest)[:12]})")
        else:
            objects[name] = found.body
    if bad:
        raise HarnessError(f"the backup {copy.target.url()} does not match its manifest: " + "; ".join(printable(b) for b in bad),
                           fix="choose another BACKUP, or restore the local copy under build/registry-backups/ by hand", exit_code=EXIT_FAILED)
    return objects


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


def restore(remote: Remote, snapshot: Snapshot, written: Mapping[str, bytes | None], *, hook: Hook = _no_hook) -> list[str]:
    """Undo writes: every object in `written` (name -> the bytes written, None for a delete) gets its
    snapshot bytes back, or is deleted when the snapshot lacks it, but only while it still holds
    what was written (each write conditional on the ETag just read). Then verify the restored ones.
    Returns the objects left alone because someone else changed them."""
    leftovers: list[str] = []
    restored: dict[str, bytes | None] = {}
    for name, body in reversed(list(written.items())):
        hook(f"restore:{name}")
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


def plan_items(snapshot: Snapshot, written: Mapping[str, bytes | None]) -> list[PlanItem]:
    """The lock's plan: for each object to write, its sha256 before (None: absent) and after (None: deleted)."""
    return [PlanItem(name, snapshot[name].sha256 if name in snapshot else None, sha256(body) if body is not None else None)
            for name, body in written.items()]


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
