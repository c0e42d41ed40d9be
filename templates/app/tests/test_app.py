"""Runs against the live stack that `make test` starts.

`make test` sets SERVICE_URL_<SERVICE> (e.g. SERVICE_URL_BACKEND) to each
published service's base URL on 127.0.0.1.
"""

import json
import os
import urllib.request

BACKEND = os.environ.get("SERVICE_URL_BACKEND", "http://127.0.0.1:8000")
FRONTEND = os.environ.get("SERVICE_URL_FRONTEND", "http://127.0.0.1:3000")


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.load(response)


def test_backend_health():
    assert get_json(f"{BACKEND}/health") == (200, {"status": "ok", "service": "backend"})


def test_frontend_forwards_api_calls_to_backend():
    status, body = get_json(f"{FRONTEND}/api/hello")
    assert status == 200
    assert body["message"] == "Hello from {{name}}"
