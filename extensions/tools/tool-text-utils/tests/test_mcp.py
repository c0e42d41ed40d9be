"""Runs against the live server that `make test` starts (SERVICE_URL_MCP)."""

import json
import os
import urllib.request

MCP_URL = os.environ.get("SERVICE_URL_MCP", "http://127.0.0.1:18200") + "/mcp"


def rpc(method, params=None, request_id=1):
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}).encode()
    request = urllib.request.Request(MCP_URL, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_initialize_names_the_server():
    result = rpc("initialize", {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}})["result"]
    assert result["serverInfo"]["name"] == "tool-text-utils"
    assert "tools" in result["capabilities"]


def test_echo_tool_round_trips_text():
    listed = {tool["name"] for tool in rpc("tools/list")["result"]["tools"]}
    assert "echo" in listed
    result = rpc("tools/call", {"name": "echo", "arguments": {"text": "hello"}})["result"]
    assert result["content"] == [{"type": "text", "text": "hello"}]


def test_text_tools():
    count = rpc("tools/call", {"name": "word_count", "arguments": {"text": "one two  three"}})["result"]
    assert count["content"][0]["text"] == "3"
    slug = rpc("tools/call", {"name": "slugify", "arguments": {"text": "Hello, Kamiwaza World!"}})["result"]
    assert slug["content"][0]["text"] == "hello-kamiwaza-world"
