"""release.s3 against moto_server over HTTP: settings, conditional writes, the lock, the probe."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from release import config, s3
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError

pytestmark = pytest.mark.s3


def settings_with(env, stage="dev", root=None):
    return config.resolve({"STAGE": stage}, root=root, environ=env)


@pytest.fixture
def remote(s3_bucket, tmp_path):
    return s3.connect(settings_with(s3_bucket.env, root=tmp_path))


# --- settings (no server needed) --------------------------------------------------------


class TestSettings:
    def test_missing_settings_are_one_error_naming_every_variable(self, tmp_path):
        with pytest.raises(HarnessError) as caught:
            s3.resolve_target(settings_with({}, stage="prod", root=tmp_path))
        text = caught.value.render()
        assert "KAMIWAZA_REGISTRY_BUCKET_PROD" in text and "KAMIWAZA_REGISTRY_BUCKET" in text and "AWS_PROFILE_PROD" in text
        assert len(caught.value.problems) == 1 and caught.value.exit_code == EXIT_BAD_INPUT

    def test_stage_bucket_and_profile(self, tmp_path):
        env = {"KAMIWAZA_REGISTRY_BUCKET": "shared", "KAMIWAZA_REGISTRY_BUCKET_STAGE": "staging-bucket",
               "AWS_PROFILE_STAGE": "reg-stage", "AWS_PROFILE_DEV": "reg-dev"}
        target = s3.resolve_target(settings_with(env, stage="stage", root=tmp_path))
        assert (target.bucket, target.profile, target.prefix) == ("staging-bucket", "reg-stage", "garden/v2")
        target = s3.resolve_target(settings_with(env, stage="dev", root=tmp_path))
        assert (target.bucket, target.profile) == ("shared", "reg-dev")
        assert target.url("registry.lock") == "s3://shared/garden/v2/registry.lock"

    def test_settings_come_from_dotenv(self, tmp_path):
        (tmp_path / ".env").write_text("KAMIWAZA_REGISTRY_BUCKET_DEV=from-dotenv\nAWS_PROFILE_DEV=p\n", encoding="utf-8")
        assert s3.resolve_target(settings_with({}, root=tmp_path)).bucket == "from-dotenv"

    def test_unknown_profile_is_a_clear_error(self, tmp_path, monkeypatch):
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        with pytest.raises(HarnessError) as caught:
            s3.connect(settings_with({"KAMIWAZA_REGISTRY_BUCKET": "b", "AWS_PROFILE_DEV": "nobody"}, root=tmp_path))
        assert "AWS_PROFILE_DEV" in caught.value.render() and "nobody" in caught.value.render()

    def test_unreachable_endpoint_never_prints_credentials(self, tmp_path):
        env = {"KAMIWAZA_REGISTRY_BUCKET": "b", "KAMIWAZA_REGISTRY_ENDPOINT": "http://127.0.0.1:9",
               "AWS_ACCESS_KEY_ID": "AKIASECRETKEYID", "AWS_SECRET_ACCESS_KEY": "very-secret-value"}
        import boto3
        from botocore.config import Config

        target = s3.resolve_target(settings_with(env, root=tmp_path))
        client = boto3.client("s3", endpoint_url=target.endpoint, region_name="us-east-1", aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], config=Config(retries={"max_attempts": 1}))
        remote = s3.Remote(client, target)
        with pytest.raises(HarnessError) as caught:
            remote.list()
        text = caught.value.render()
        assert "cannot reach http://127.0.0.1:9" in text and "make moto-server" in text
        assert "very-secret-value" not in text and "AKIASECRETKEYID" not in text


# --- objects -----------------------------------------------------------------------------


def test_missing_bucket_is_bad_input(moto_server, s3_bucket, tmp_path):
    env = {**s3_bucket.env, "KAMIWAZA_REGISTRY_BUCKET": "no-such-bucket-here"}
    with pytest.raises(HarnessError) as caught:
        s3.connect(settings_with(env, root=tmp_path)).list()
    assert "does not exist" in caught.value.render() and caught.value.exit_code == EXIT_BAD_INPUT


def test_put_is_conditional(remote):
    first = remote.put("apps.json", b"[]\n", expect=s3.ABSENT)
    with pytest.raises(s3.ConditionFailed):
        remote.put("apps.json", b"[1]\n", expect=s3.ABSENT)
    second = remote.put("apps.json", b"[2]\n", expect=first)
    with pytest.raises(s3.ConditionFailed):
        remote.put("apps.json", b"[3]\n", expect=first)  # stale ETag: someone wrote since
    with pytest.raises(s3.ConditionFailed):
        remote.put("tools.json", b"[]\n", expect=first)  # IfMatch on an absent object
    assert remote.get("apps.json") == s3.RemoteObject("apps.json", b"[2]\n", second)
    with pytest.raises(s3.ConditionFailed):
        remote.delete("apps.json", expect=first)
    remote.delete("apps.json", expect=second)
    assert remote.get("apps.json") is None


def test_snapshot_lists_the_garden_without_the_lock(remote, s3_bucket):
    s3_bucket.put("garden/v2/apps.json", b"[]")
    s3_bucket.put("garden/v2/images/a.svg", b"<svg/>")
    s3_bucket.put("garden/v2/registry.lock", b"{}")
    s3_bucket.put("garden/v1/apps.json", b"old")
    snapshot = remote.snapshot()
    assert {name: item.body for name, item in snapshot.items()} == {"apps.json": b"[]", "images/a.svg": b"<svg/>"}


def test_backup_folders_are_unique_and_restorable_by_sync(tmp_path):
    moment = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    first = s3.new_backup_dir(tmp_path, "dev", moment)
    second = s3.new_backup_dir(tmp_path, "dev", moment)
    assert first == tmp_path / "build/registry-backups/dev/20240506-070809"
    assert second.name == "20240506-070809-2"
    s3.write_snapshot({"images/a.svg": s3.RemoteObject("images/a.svg", b"x", '"e"')}, first)
    assert (first / "images" / "a.svg").read_bytes() == b"x"


def test_conflict_409_is_retried_with_backoff(tmp_path):
    calls = []

    class Flaky:
        def put_object(self, **params):
            calls.append(params)
            if len(calls) < 3:
                raise ClientError({"Error": {"Code": "ConditionalRequestConflict", "Message": "busy"},
                                   "ResponseMetadata": {"HTTPStatusCode": 409}}, "PutObject")
            return {"ETag": '"ok"'}

    sleeps = []
    remote = s3.Remote(Flaky(), s3.Target(stage="dev", bucket="b"), sleep=sleeps.append)
    assert remote.put("apps.json", b"[]", expect=s3.ABSENT) == '"ok"'
    assert len(calls) == 3 and len(sleeps) == 2 and all(0 < s < 5 for s in sleeps)
    assert calls[0]["IfNoneMatch"] == "*"


# --- the probe ----------------------------------------------------------------------------


def test_probe_passes_on_moto_and_leaves_nothing(remote, s3_bucket):
    remote.probe_conditional_writes()
    assert s3_bucket.objects() == {}


class IgnoresConditions:
    """A store that accepts conditional headers and ignores them (some S3-compatible stores do)."""

    def __init__(self, client, ignore):
        self._client = client
        self._ignore = ignore

    def __getattr__(self, name):
        return getattr(self._client, name)

    def put_object(self, **params):
        for header in self._ignore:
            params.pop(header, None)
        return self._client.put_object(**params)

    def delete_object(self, **params):
        if "IfMatch" in self._ignore:
            params.pop("IfMatch", None)
        return self._client.delete_object(**params)


@pytest.mark.parametrize(("ignore", "named"), [(("IfNoneMatch",), "If-None-Match: * on PutObject"), (("IfMatch",), "If-Match on PutObject")])
def test_probe_stops_on_a_store_that_ignores_conditions(remote, s3_bucket, ignore, named):
    lying = s3.Remote(IgnoresConditions(remote.client, ignore), remote.target)
    with pytest.raises(HarnessError) as caught:
        lying.probe_conditional_writes()
    assert named in caught.value.render() and "nothing was published" in caught.value.render()
    assert caught.value.exit_code == EXIT_FAILED
    assert s3_bucket.objects() == {}


# --- the lock -------------------------------------------------------------------------------


def test_lock_is_exclusive_and_describes_its_holder(remote, s3_bucket):
    lock = remote.acquire("alice", ttl=60)
    body = json.loads(s3_bucket.get("garden/v2/registry.lock"))
    assert set(body) == {"owner", "host", "pid", "acquired_at", "expires_at", "token", "operation"}
    assert body["owner"] == "alice" and body["token"] == lock.token
    with pytest.raises(HarnessError) as caught:
        remote.acquire("bob", ttl=60)
    text = caught.value.render()
    assert "held by alice" in text and f"token {lock.token}" in text and body["host"] in text
    assert f"make remove-publish-lock STAGE=dev LOCK_ID={lock.token}" in text
    assert caught.value.exit_code == EXIT_FAILED
    assert "released" in remote.release(lock)
    assert s3_bucket.get("garden/v2/registry.lock") is None


def test_only_the_holder_releases(remote, s3_bucket):
    mine = remote.acquire("alice", ttl=60)
    remote.remove_lock()  # someone removes it by hand ...
    theirs = remote.acquire("bob", ttl=60)  # ... and another publish takes it
    assert "no longer ours" in remote.release(mine)
    assert remote.read_lock().token == theirs.token
    remote.release(theirs)


def test_stale_lock_is_reported_never_taken(remote, s3_bucket):
    old = datetime.now(timezone.utc) - timedelta(hours=3)
    stale = s3.Lock.new("carol", ttl=60, now=old)
    s3_bucket.put("garden/v2/registry.lock", stale.body())
    with pytest.raises(HarnessError) as caught:
        remote.acquire("dave", ttl=60, timeout=0.3)
    text = caught.value.render()
    assert "STALE" in text and "held by carol" in text and "after waiting 0.3s" in text
    assert json.loads(s3_bucket.get("garden/v2/registry.lock"))["token"] == stale.token


def test_lock_timeout_waits_for_the_holder(remote):
    first = remote.acquire("alice", ttl=60)
    waits = []
    releaser = threading.Timer(0.5, lambda: remote.release(first))
    releaser.start()
    started = time.monotonic()
    second = remote.acquire("bob", ttl=60, timeout=30, on_wait=waits.append)
    assert 0.3 < time.monotonic() - started < 20
    assert [w.owner for w in waits] == ["alice"] and second.owner == "bob"
    remote.release(second)


def test_remove_lock_by_id(remote):
    assert remote.remove_lock() is None
    lock = remote.acquire("alice", ttl=60)
    with pytest.raises(HarnessError) as caught:
        remote.remove_lock("not-the-token")
    assert "not removed" in caught.value.render()
    assert remote.read_lock().token == lock.token
    removed = remote.remove_lock(lock.token)
    assert removed.token == lock.token and remote.read_lock() is None


def test_unreadable_lock_is_still_a_held_lock(remote, s3_bucket):
    s3_bucket.put("garden/v2/registry.lock", b"not json")
    with pytest.raises(HarnessError) as caught:
        remote.acquire("alice", ttl=60)
    assert "not readable JSON" in caught.value.render()
    assert remote.remove_lock() is not None


# --- exact errors, safe printing (issue 13) ----------------------------------------------------


def test_credentials_in_the_endpoint_are_never_printed(tmp_path):
    env = {"KAMIWAZA_REGISTRY_BUCKET": "b", "KAMIWAZA_REGISTRY_ENDPOINT": "http://admin:s3cr3t-pw@127.0.0.1:9",
           "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "S3_MAX_ATTEMPTS": "1", "S3_CONNECT_TIMEOUT": "1"}
    remote = s3.connect(settings_with(env, root=tmp_path))
    assert "s3cr3t" not in remote.target.describe() and "***@127.0.0.1:9" in remote.target.describe()
    with pytest.raises(HarnessError) as caught:
        remote.list()
    assert "s3cr3t" not in caught.value.render() and "admin" not in caught.value.render()
    assert caught.value.kind == "unreachable" and caught.value.exit_code == EXIT_BAD_INPUT


@pytest.mark.parametrize(("code", "kind", "exit_code"), [
    ("InvalidAccessKeyId", "credentials", EXIT_BAD_INPUT), ("SignatureDoesNotMatch", "credentials", EXIT_BAD_INPUT),
    ("AccessDenied", "denied", EXIT_BAD_INPUT), ("NoSuchBucket", "no-bucket", EXIT_BAD_INPUT),
    ("NotImplemented", "unsupported", EXIT_FAILED), ("SlowDown", "server", EXIT_FAILED), ("InternalError", "server", EXIT_FAILED),
])
def test_each_client_error_has_its_own_kind(code, kind, exit_code):
    error = ClientError({"Error": {"Code": code, "Message": "m\x1b[31m"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject")
    failure = s3.explain(error, s3.Target(stage="dev", bucket="b"), "writing x")
    assert (failure.kind, failure.exit_code) == (kind, exit_code)
    assert "\x1b" not in failure.render()


def test_lock_fields_are_escaped_and_suggested_commands_quoted(remote, s3_bucket):
    hostile = {"owner": "eve\n\x1b[31mred", "host": "h", "pid": 1, "acquired_at": "x", "expires_at": "y", "token": "tok en;rm -rf ~"}
    s3_bucket.put("garden/v2/registry.lock", json.dumps(hostile).encode())
    with pytest.raises(HarnessError) as caught:
        remote.acquire("alice", ttl=60)
    text = caught.value.render()
    assert "\x1b" not in text and "eve\\n\\x1b[31mred" in text
    assert "make remove-publish-lock STAGE=dev 'LOCK_ID=tok en;rm -rf ~'" in text
    assert "make publish-registry STAGE=dev 'LOCK_ID=tok en;rm -rf ~'" in text


def test_a_key_that_is_both_a_file_and_a_folder_is_named(remote, s3_bucket):
    s3_bucket.put("garden/v2/images", b"x")
    s3_bucket.put("garden/v2/images/a.svg", b"<svg/>")
    with pytest.raises(HarnessError) as caught:
        remote.snapshot()
    text = caught.value.render()
    assert "'images' is both a file and the folder of 'images/a.svg'" in text
    assert f"aws s3 rm s3://{s3_bucket.name}/garden/v2/images`" in text


def test_lost_lock_answer_meets_our_own_token(remote, s3_bucket):
    """botocore retried our lock PUT after its answer was lost: the 412 it gets is our own lock."""
    lock = s3.Lock.new("alice", 60)
    s3_bucket.put("garden/v2/registry.lock", lock.body())  # the first attempt landed
    original = s3.Lock.new
    s3.Lock.new = staticmethod(lambda *a, **k: lock)
    try:
        held = remote.try_acquire("alice", 60)
    finally:
        s3.Lock.new = original
    assert held is not None and held.token == lock.token


def test_plan_status_is_new_old_or_unknown():
    from release import registry_lock

    plan = [registry_lock.PlanItem("tools.json", "a", "b"), registry_lock.PlanItem("apps.json", "c", "d"),
            registry_lock.PlanItem("images/x.svg", None, "e"), registry_lock.PlanItem("images/y.svg", "f", None)]
    found = registry_lock.status(plan, {"tools.json": "b", "apps.json": "c", "images/x.svg": "zzz", "images/y.svg": None})
    assert [state for _, state in found] == ["new", "old", "unknown", "new"]
    assert registry_lock.is_mixed(found) and not registry_lock.is_mixed(found[1:2])


def test_lock_body_round_trips_with_its_plan():
    from release import registry_lock

    lock = s3.Lock.new("alice", 60).with_plan({"timestamp": "t", "remote": "s3://b/garden/v2-backups/dev/t/", "local": "build/x"},
                                               [registry_lock.PlanItem("tools.json", None, "ab")])
    again = s3.Lock.parse(lock.body(), '"e"')
    assert again.plan == lock.plan and again.backup == lock.backup and again.backup_timestamp == "t"


def test_old_probe_objects_are_cleaned(remote, s3_bucket):
    s3_bucket.put(f"{s3.PROBE_PREFIX}/20200101T000000Z-deadbeef", b"probe 1")
    s3_bucket.put(f"{s3.PROBE_PREFIX}/{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-fresh", b"probe 1")
    assert remote.clean_probes() == 1
    assert list(s3_bucket.objects(s3.PROBE_PREFIX + "/")) == [f"{s3.PROBE_PREFIX}/{k}" for k in remote.at(s3.PROBE_PREFIX).list_keys()]
    assert len(s3_bucket.objects(s3.PROBE_PREFIX + "/")) == 1
