"""MCP Time: a Model Context Protocol server over streamable HTTP at POST /mcp.

Standard library only. Answers JSON-RPC 2.0 `initialize`, `ping`, `tools/list`
and `tools/call` with two tools, `now` and `convert`; GET /health is for
container health checks. DEFAULT_TIMEZONE names the zone used when a call
gives none.
"""

import json
import os
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROTOCOL_VERSION = "2025-03-26"
DEFAULT_TIMEZONE = os.environ.get("DEFAULT_TIMEZONE", "UTC")


def zone(name):
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise LookupError(f"unknown time zone {name!r}; use an IANA name such as Europe/Paris") from None


def now(args):
    return datetime.now(timezone.utc).astimezone(zone(args.get("timezone"))).isoformat(timespec="seconds")


def convert(args):
    moment = datetime.fromisoformat(str(args["time"]))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(args.get("from_timezone")))
    return moment.astimezone(zone(args["to_timezone"])).isoformat(timespec="seconds")


ZONE = {"type": "string", "description": "IANA time zone, e.g. Europe/Paris"}
TOOLS = {
    "now": {
        "description": "The current time in a time zone (ISO 8601).",
        "inputSchema": {"type": "object", "properties": {"timezone": ZONE}},
        "run": now,
    },
    "convert": {
        "description": "Convert an ISO 8601 time to another time zone.",
        "inputSchema": {
            "type": "object",
            "properties": {"time": {"type": "string"}, "from_timezone": ZONE, "to_timezone": ZONE},
            "required": ["time", "to_timezone"],
        },
        "run": convert,
    },
}


def handle(message):
    method, params = message.get("method"), message.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "mcp-time", "version": "0.4.0"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": [{"name": n, "description": t["description"], "inputSchema": t["inputSchema"]} for n, t in TOOLS.items()]}
    if method == "tools/call":
        tool = TOOLS.get(params.get("name"))
        if tool is None:
            raise LookupError(f"unknown tool {params.get('name')!r}")
        try:
            text, failed = tool["run"](params.get("arguments") or {}), False
        except (LookupError, KeyError, ValueError) as error:
            text, failed = str(error), True  # a tool error is a result the model can read
        return {"content": [{"type": "text", "text": text}], "isError": failed}
    raise LookupError(f"unknown method {method!r}")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        else:
            self.reply(405, {"error": "use POST /mcp with a JSON-RPC message"})

    def do_POST(self):
        if self.path != "/mcp":
            return self.reply(404, {"error": f"no route {self.path}"})
        try:
            message = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        except ValueError:
            return self.reply(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
        if "id" not in message:  # a notification: accepted, no body
            return self.reply(202, None)
        try:
            body = {"jsonrpc": "2.0", "id": message["id"], "result": handle(message)}
        except (LookupError, KeyError, TypeError) as error:
            body = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": str(error)}}
        self.reply(200, body)

    def reply(self, status, body):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
