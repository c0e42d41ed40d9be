"""Runs against the live server that `make test` starts (SERVICE_URL_MCP)."""

import json
import os
import urllib.request
from datetime import datetime

MCP_URL = os.environ.get("SERVICE_URL_MCP", "http://127.0.0.1:18210") + "/mcp"


def rpc(method, params=None, request_id=1):
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}).encode()
    request = urllib.request.Request(MCP_URL, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def call(name, **arguments):
    return rpc("tools/call", {"name": name, "arguments": arguments})["result"]


def test_initialize_names_the_server():
    result = rpc("initialize", {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}})["result"]
    assert result["serverInfo"]["name"] == "mcp-time"
    assert {tool["name"] for tool in rpc("tools/list")["result"]["tools"]} == {"now", "convert"}


def test_now_is_an_aware_time_in_the_default_zone():
    result = call("now")
    assert not result["isError"]
    assert datetime.fromisoformat(result["content"][0]["text"]).utcoffset().total_seconds() == 0


def test_convert_between_zones():
    result = call("convert", time="2024-01-15T12:00:00+00:00", to_timezone="Asia/Tokyo")
    assert result["content"][0]["text"] == "2024-01-15T21:00:00+09:00"


def test_an_unknown_zone_is_a_tool_error():
    result = call("now", timezone="Mars/Olympus")
    assert result["isError"] and "unknown time zone" in result["content"][0]["text"]
