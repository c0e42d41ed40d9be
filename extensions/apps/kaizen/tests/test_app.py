"""Runs against the live stack that `make test` starts.

`make test` sets SERVICE_URL_<SERVICE> (e.g. SERVICE_URL_BACKEND) to each
published service's base URL on 127.0.0.1.
"""

import json
import os
import urllib.request
import uuid

BACKEND = os.environ.get("SERVICE_URL_BACKEND", "http://127.0.0.1:18100")
FRONTEND = os.environ.get("SERVICE_URL_FRONTEND", "http://127.0.0.1:18101")


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


def test_backend_health_reports_redis_up():
    assert call(f"{BACKEND}/health") == (200, {"status": "ok", "service": "backend", "redis": "up"})


def test_suggestion_is_stored_in_redis_and_served_through_frontend():
    text = f"suggestion {uuid.uuid4().hex}"
    status, created = call(f"{BACKEND}/api/suggestions", {"text": text})
    assert status == 201 and created["text"] == text
    status, listed = call(f"{FRONTEND}/api/suggestions")
    assert status == 200
    assert text in listed["suggestions"]
    assert "Automate the release checklist" in listed["suggestions"]  # seeded from backend/seed/
