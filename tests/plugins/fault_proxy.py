"""A fault-injecting HTTP proxy for S3 tests: 127.0.0.1, threaded, scripted per request.

Put it in front of moto_server (`FaultProxy(moto_server.endpoint)`), point the harness at
`proxy.endpoint`, and script what the next matching requests suffer:

    proxy.add("503", times=3)                        the next 3 requests answer 503 SlowDown
    proxy.add("lost", method="PUT", key="tools.json") forwarded, then the connection drops: the answer is lost
    proxy.add("drop")                                the connection drops before forwarding
    proxy.add("delay:3")                             forwarded after 3 s (a hung store, against S3_READ_TIMEOUT)
    proxy.add("corrupt", method="GET")               forwarded, one byte of the body flipped
    proxy.add("403") / proxy.add("501", when=lambda r: "If-None-Match" in r.headers)

Rules are tried in order; a rule with `times` left applies and counts down. Every request
is recorded in `proxy.seen` as (method, path, action).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

_ERRORS = {
    "500": ("InternalError", "We encountered an internal error. Please try again."),
    "503": ("SlowDown", "Please reduce your request rate."),
    "403": ("AccessDenied", "Access Denied"),
    "501": ("NotImplemented", "A header you provided implies functionality that is not implemented"),
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Rule:
    action: str
    method: str | None = None
    key: str | None = None
    times: int = 1
    when: Callable[[Request], bool] | None = None

    def matches(self, request: Request) -> bool:
        if self.times <= 0 or (self.method and request.method != self.method):
            return False
        if self.key and self.key not in urllib.parse.unquote(request.path.split("?", 1)[0]):
            return False
        return self.when is None or self.when(request)


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        parsed = urllib.parse.urlsplit(self.upstream)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 80
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return None

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                return None  # a client that gave up (timeout) is part of the script, not an error

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # scripting
    def add(self, action: str, *, method: str | None = None, key: str | None = None, times: int = 1,
            when: Callable[[Request], bool] | None = None) -> Rule:
        rule = Rule(action, method, key, times, when)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _take(self, request: Request) -> str:
        with self._lock:
            for rule in self.rules:
                if rule.matches(request):
                    rule.times -= 1
                    return rule.action
        return "pass"

    # serving
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = _read_body(handler)
        headers = {k: v for k, v in handler.headers.items()}
        request = Request(handler.command, handler.path, headers)
        action = self._take(request)
        self.seen.append((handler.command, handler.path, action))
        if action in _ERRORS:
            code, message = _ERRORS[action]
            payload = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()
            handler.send_response(int(action))
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
            return
        if action == "drop":
            return _drop(handler)
        if action.startswith("delay:"):
            time.sleep(float(action.split(":", 1)[1]))
        status, reason, response_headers, response_body = self._forward(handler.command, handler.path, headers, body)
        if action == "lost":
            return _drop(handler)
        if action == "corrupt" and response_body:
            middle = len(response_body) // 2
            response_body = response_body[:middle] + bytes([response_body[middle] ^ 0x20]) + response_body[middle + 1 :]
        handler.send_response(status, reason)
        for name, value in response_headers:
            if name.lower() not in ("transfer-encoding", "content-length", "connection", "date", "server"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response_body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(response_body)

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in ("transfer-encoding", "connection")}
            forwarded["Content-Length"] = str(len(body))
            connection.request(method, path, body=body if body or method in ("PUT", "POST") else None, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _drop(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
