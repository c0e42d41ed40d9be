"""{{display_name}}: a small key-value HTTP service that keeps its data under /data."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STORE = Path(os.environ.get("DATA_DIR", "/data")) / "store.json"
LOCK = threading.Lock()


def load():
    try:
        return json.loads(STORE.read_text())
    except (FileNotFoundError, ValueError):
        return {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"status": "ok"})
        key = self.key()
        if key is None:
            return self.reply(404, {"error": f"no route {self.path}"})
        with LOCK:
            values = load()
        self.reply(200, {"key": key, "value": values[key]}) if key in values else self.reply(404, {"error": f"no key {key}"})

    def do_PUT(self):
        key = self.key()
        if key is None:
            return self.reply(404, {"error": f"no route {self.path}"})
        value = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with LOCK:
            values = load()
            values[key] = value
            STORE.write_text(json.dumps(values))
        self.reply(200, {"key": key, "value": value})

    def key(self):
        prefix = "/kv/"
        return self.path[len(prefix):] if self.path.startswith(prefix) and len(self.path) > len(prefix) else None

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
