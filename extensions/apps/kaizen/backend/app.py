"""Kaizen backend: a JSON API over a Redis list of improvement suggestions.

Standard library only: Redis is spoken over its RESP protocol on a socket.
"""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REDIS = (os.environ.get("REDIS_HOST", "redis"), int(os.environ.get("REDIS_PORT", "6379")))
KEY = "kaizen:suggestions"
SEED = Path(__file__).parent / "seed" / "suggestions.json"


def redis(*args):
    """Send one command, return the decoded reply (str, int, list or None)."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in map(str, args))
    with socket.create_connection(REDIS, timeout=3) as conn:
        conn.sendall(payload.encode())
        return _read(conn.makefile("rb"))


def _read(stream):
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        return None if rest == "-1" else stream.read(int(rest) + 2)[:-2].decode()
    if kind == b"*":
        return [_read(stream) for _ in range(int(rest))]
    raise RuntimeError(f"unexpected reply {line!r}")


def seed():
    if SEED.is_file() and redis("SETNX", f"{KEY}:seeded", "1") == 1:
        for text in json.loads(SEED.read_text()):
            redis("RPUSH", KEY, text)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            try:
                up = redis("PING") == "PONG"
            except OSError:
                up = False
            self.reply(200 if up else 503, {"status": "ok" if up else "degraded", "service": "backend", "redis": "up" if up else "down"})
        elif self.path == "/api/suggestions":
            self.reply(200, {"suggestions": redis("LRANGE", KEY, 0, -1)})
        elif self.path == "/api/hello":
            self.reply(200, {"message": "Hello from kaizen"})
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        if self.path != "/api/suggestions":
            return self.reply(404, {"error": f"no route {self.path}"})
        try:
            text = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["text"].strip()
        except (ValueError, KeyError, TypeError, AttributeError):
            return self.reply(400, {"error": 'send {"text": "..."}'})
        if not text:
            return self.reply(400, {"error": "text is empty"})
        self.reply(201, {"text": text, "count": redis("RPUSH", KEY, text)})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        if os.environ.get("LOG_LEVEL", "info") == "debug":
            super().log_message(fmt, *args)


if __name__ == "__main__":
    try:
        seed()
    except OSError as error:
        print(f"seeding skipped: {error}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
