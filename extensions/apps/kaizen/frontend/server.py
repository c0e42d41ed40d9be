"""Kaizen frontend: serves the page and forwards /api/ calls to the backend."""

import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BACKEND_URL = os.environ.get("BACKEND_URL", "http://backend:8000")
PAGE = (Path(__file__).parent / "index.html").read_bytes()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.send(200, "application/json", json.dumps({"status": "ok", "service": "frontend"}).encode())
        elif self.path.startswith("/api/"):
            self.forward()
        else:
            self.send(200, "text/html; charset=utf-8", PAGE)

    def forward(self):
        try:
            with urllib.request.urlopen(BACKEND_URL + self.path, timeout=5) as upstream:
                self.send(upstream.status, upstream.headers.get("Content-Type", "application/json"), upstream.read())
        except urllib.error.HTTPError as error:
            self.send(error.code, "application/json", error.read())
        except OSError as error:
            self.send(502, "application/json", json.dumps({"error": f"backend unreachable: {error}"}).encode())

    def send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
