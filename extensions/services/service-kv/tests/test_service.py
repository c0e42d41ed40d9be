"""Runs against the live service that `make test` starts (SERVICE_URL_API)."""

import json
import os
import urllib.request
import uuid

API = os.environ.get("SERVICE_URL_API", "http://127.0.0.1:18300")


def call(method, path, body=None):
    request = urllib.request.Request(API + path, data=body, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


def test_health():
    assert call("GET", "/health") == (200, {"status": "ok"})


def test_value_written_is_read_back():
    key = f"test-{uuid.uuid4().hex}"
    assert call("PUT", f"/kv/{key}", b"stored")[0] == 200
    assert call("GET", f"/kv/{key}") == (200, {"key": key, "value": "stored"})
