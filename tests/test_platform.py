"""release/platform.py: each platform rule both ways, over extensions made in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from release import platform
from release.compose import parse_yaml
from release.extensions import Extension


def make(tmp_path: Path, compose_text: str, dockerfile: str | None = None) -> tuple[Extension, dict]:
    folder = tmp_path / "extensions" / "tools" / "tool-x"
    (folder / "server").mkdir(parents=True, exist_ok=True)
    (folder / "docker-compose.yml").write_text(compose_text)
    if dockerfile is not None:
        (folder / "server" / "Dockerfile").write_text(dockerfile)
    return Extension("tool", "tool-x", folder), parse_yaml(compose_text)


def fields(problems) -> list[str | None]:
    return [p.field for p in problems]


# --------------------------------------------------------------------------- container ports


@pytest.mark.parametrize(
    ("entry", "port"),
    [
        (80, 80),
        ("80", 80),
        ("8080:80", 80),
        ("127.0.0.1:8080:80/tcp", 80),
        ("[::1]:8080:443/udp", 443),
        ("9000-9001:80-81", 80),
        ("${PORT:-18000}:${INNER:-80}", 80),
        ({"target": 80, "published": 8080}, 80),
        ({"target": "443"}, 443),
        ("8000", 8000),
        ("127.0.0.1:80:8080", 8080),
        ("${PORT}", None),
        ({"published": 80}, None),
    ],
)
def test_container_port_reads_every_syntax(entry, port):
    assert platform.container_port(entry) == port


def test_a_privileged_container_port_is_named_with_its_field(tmp_path):
    extension, document = make(tmp_path, 'services:\n  web:\n    image: app:1\n    ports: ["127.0.0.1:8080:80/tcp", "8443:8443", {target: 443}]\n')
    problems = platform.privileged_port_problems(extension, document)
    assert fields(problems) == ["services.web.ports[0]", "services.web.ports[2]"]
    assert problems[0].file == extension.compose_path and "8080" in problems[0].fix


@given(st.integers(1, 65535), st.integers(1, 65535), st.sampled_from(["{h}:{c}", "127.0.0.1:{h}:{c}", "{h}:{c}/tcp", "{c}"]))
def test_only_container_ports_below_1024_count(host, container, shape):
    entry = shape.format(h=host, c=container)
    assert platform.container_port(entry) == container
    extension = Extension("tool", "tool-x", Path("/nowhere"))
    problems = platform.privileged_port_problems(extension, {"services": {"web": {"image": "a:1", "ports": [entry]}}})
    assert bool(problems) == (container < 1024)


# --------------------------------------------------------------------------- EXPOSE


def test_expose_below_1024_names_the_dockerfile_and_line(tmp_path):
    dockerfile = "FROM kamiwaza-base/python:bookworm\nWORKDIR /app\nEXPOSE 8000 \\\n  80/tcp\nUSER nobody\n"
    extension, document = make(tmp_path, "services:\n  mcp:\n    build: ./server\n", dockerfile)
    problems = platform.exposed_port_problems(extension, document)
    assert [(p.file, p.field) for p in problems] == [(extension.path / "server" / "Dockerfile", "EXPOSE (line 3)")]
    assert "EXPOSE 80 " in problems[0].message


def test_expose_of_8080_and_earlier_build_stages_pass(tmp_path):
    dockerfile = "FROM python:3 AS build\nEXPOSE 80\nFROM kamiwaza-base/python:bookworm\nEXPOSE 8080\nUSER 1000\n"
    extension, document = make(tmp_path, "services:\n  mcp:\n    build: ./server\n", dockerfile)
    assert platform.exposed_port_problems(extension, document) == []


# --------------------------------------------------------------------------- nginx / httpd as root


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM nginx:1.27-alpine\nCOPY site /usr/share/nginx/html\n",
        "FROM httpd:2.4\n",
        "FROM nginx:1.27 AS web\nFROM web\nCOPY x /y\n",
        "FROM debian:bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends nginx \\\n    && rm -rf /var/lib/apt/lists/*\n",
        "FROM nginx:1.27\nUSER root\n",
        "FROM nginx:1.27\nUSER 0:0\n",
    ],
)
def test_an_http_server_that_stays_root_is_refused(tmp_path, dockerfile):
    extension, document = make(tmp_path, "services:\n  web:\n    build: ./server\n", dockerfile)
    problems = platform.root_http_server_problems(extension, document)
    assert [(p.file.name, p.field) for p in problems] == [("Dockerfile", "USER")]
    assert problems[0].fix.startswith("add USER")


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM nginx:1.27-alpine\nUSER nginx\n",
        "FROM nginx:1.27 AS web\nUSER 101\nFROM web\nCOPY x /y\n",
        "FROM nginxinc/nginx-unprivileged:1.27\n",
        "FROM debian:bookworm\nRUN apt-get install -y nginx\nUSER www-data\n",
        "FROM kamiwaza-base/python:bookworm\nRUN pip install nginx-log-parser\n",
        "FROM node:20 AS build\nFROM kamiwaza-base/python:bookworm\n",
    ],
)
def test_a_non_root_or_non_server_dockerfile_passes(tmp_path, dockerfile):
    extension, document = make(tmp_path, "services:\n  web:\n    build: ./server\n", dockerfile)
    assert platform.root_http_server_problems(extension, document) == []


# --------------------------------------------------------------------------- image-only nginx / httpd


@pytest.mark.parametrize(("image", "refused"), [("nginx:1.27", True), ("library/httpd:2.4", True), ("nginx", True), ("nginxinc/nginx-unprivileged:1.27", False), ("redis:7", False), ("kamiwazaai/web-nginx:1", False), ("nginx-helper-ui:1", True)])
def test_image_only_http_servers(tmp_path, image, refused):
    extension, document = make(tmp_path, f"services:\n  web:\n    image: {image}\n")
    problems = platform.image_only_http_server_problems(extension, document)
    assert fields(problems) == (["services.web.image"] if refused else [])


def test_a_built_service_named_after_nginx_is_judged_by_its_dockerfile(tmp_path):
    extension, document = make(tmp_path, "services:\n  web:\n    build: ./server\n    image: kamiwazaai/tool-x-nginx\n", "FROM nginx:1.27\nUSER nginx\n")
    assert platform.image_only_http_server_problems(extension, document) == []
    assert platform.platform_problems(extension, document) == []


def test_every_rule_is_listed_once():
    assert [rule_id for rule_id, _, _ in platform.PLATFORM_RULES] == ["privileged-container-port", "privileged-expose", "non-root-http-server", "image-only-http-server"]
