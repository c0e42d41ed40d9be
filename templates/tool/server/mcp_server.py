"""{{display_name}}: a Model Context Protocol server over streamable HTTP at POST /mcp.

Standard library only. Answers JSON-RPC 2.0 `initialize`, `ping`, `tools/list`
and `tools/call`; GET /health is for container health checks.
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROTOCOL_VERSION = "2025-03-26"
TOOLS = {
    "echo": {
        "description": "Return the given text unchanged.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        "run": lambda args: str(args["text"]),
    },
}


def handle(message):
    method, params = message.get("method"), message.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "{{name}}", "version": "0.1.0"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": [{"name": n, "description": t["description"], "inputSchema": t["inputSchema"]} for n, t in TOOLS.items()]}
    if method == "tools/call":
        tool = TOOLS.get(params.get("name"))
        if tool is None:
            raise LookupError(f"unknown tool {params.get('name')!r}")
        return {"content": [{"type": "text", "text": tool["run"](params.get("arguments") or {})}], "isError": False}
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
