"""Properties of the App Garden transform over generated compose documents and manifests."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release import compose, compose_cli, images
from release.compose import AppGardenFile, parse_yaml, to_appgarden
from release.manifest import Manifest

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
extension_names = st.from_regex(r"[a-z][a-z0-9]{1,5}(-[a-z0-9]{1,4})?", fullmatch=True)
numbers = st.integers(min_value=0, max_value=40)
versions = st.builds(
    lambda x, y, z, pre, build: f"{x}.{y}.{z}{pre}{build}",
    numbers, numbers, numbers,
    st.sampled_from(["", "-rc.1", "-alpha.2", "-beta"]),
    st.sampled_from(["", "+build.7"]),
)
ports = st.integers(min_value=1, max_value=65535)
external_images = st.sampled_from(
    ["redis:7-bookworm", "postgres:16-alpine", "nginx:1.27", "ghcr.io/acme/tool:2.0.1", "localhost:5000/kamiwazaai/x:1.0.0", "mongo:7@sha256:" + "a" * 64]
)
# Values YAML 1.1 and 1.2 readers disagree on, and multi-line scripts.
env_values = st.one_of(
    st.sampled_from(["yes", "no", "on", "off", "true", "1e3", "0755", "2222:22", "2024-01-01", "", "null", "~", "a: b", "- x", "#x"]),
    st.just("http://host.docker.internal:7777/api"),
    st.text(alphabet="abc xyz=:/-_.\n", max_size=20),
    st.integers(min_value=-1000, max_value=1000),
    st.booleans(),
)
env_keys = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)


@st.composite
def port_entries(draw) -> Any:
    host, container = draw(ports), draw(ports)
    return draw(
        st.sampled_from(
            [
                container,
                f"{container}",
                f"{host}:{container}",
                f"127.0.0.1:{host}:{container}",
                f"[::1]:{host}:{container}/udp",
                f"${{HOST_PORT:-{host}}}:${{PORT:-{container}}}",
                {"target": container, "published": host, "host_ip": "127.0.0.1", "protocol": "tcp"},
                {"target": container},
            ]
        )
    )


@st.composite
def volume_entries(draw, volume_names: list[str]) -> Any:
    target = "/" + draw(names)
    named = draw(st.sampled_from(volume_names))
    return draw(
        st.sampled_from(
            [
                f"{named}:{target}",
                f"{named}:{target}:ro",
                f"./{draw(names)}:{target}",
                f"/srv/{draw(names)}:{target}",
                f"~/{draw(names)}:{target}:ro",
                {"type": "bind", "source": "./" + draw(names), "target": target},
                {"type": "volume", "source": named, "target": target},
                target,
            ]
        )
    )


@st.composite
def environments(draw) -> Any:
    pairs = draw(st.dictionaries(env_keys, env_values, max_size=4))
    if draw(st.booleans()):
        return pairs
    return [f"{key}={value}" for key, value in pairs.items()]


@st.composite
def compose_documents(draw) -> tuple[dict[str, Any], Manifest]:
    extension = draw(extension_names)
    manifest = Manifest(Path("kamiwaza.json"), {"name": extension, "version": draw(versions)})
    volume_names = ["data", "cache"]
    services: dict[str, Any] = {}
    for index, name in enumerate(draw(st.lists(names, min_size=1, max_size=4, unique=True))):
        kind = draw(st.sampled_from(["build", "external", "project"]))
        service: dict[str, Any] = {}
        if kind == "build":
            service["build"] = draw(st.sampled_from(["./" + name, {"context": "./" + name, "dockerfile": "Dockerfile"}]))
        elif kind == "external":
            service["image"] = draw(external_images)
        else:
            service["build"] = "."
            service["image"] = f"kamiwazaai/{extension}-{name}" + draw(st.sampled_from(["", ":0.0.1", ":latest"]))
        if draw(st.booleans()):
            service["container_name"] = f"{extension}-{name}"
        if draw(st.booleans()):
            service["ports"] = draw(st.lists(port_entries(), max_size=3))
        if draw(st.booleans()):
            service["volumes"] = draw(st.lists(volume_entries(volume_names), max_size=3))
        if draw(st.booleans()):
            service["environment"] = draw(environments())
        if draw(st.booleans()):
            service["command"] = ["sh", "-c", "set -e\necho start\nexec server --port 8000\n"]
        if index and draw(st.booleans()):
            service["depends_on"] = {list(services)[0]: {"condition": "service_started"}}
        if draw(st.booleans()):
            service["healthcheck"] = {"test": ["CMD", "true"], "interval": "2s", "retries": 3}
        if draw(st.booleans()):
            service["extra_hosts"] = draw(st.sampled_from([["db.local:10.0.0.2"], {"db.local": "10.0.0.2"}, ["host.docker.internal=host-gateway"]]))
        if draw(st.booleans()):
            service["deploy"] = {"resources": {"limits": {"cpus": "2", "memory": "2G"}}}
        services[name] = service
    document: dict[str, Any] = {"services": services, "volumes": {name: None for name in volume_names}}
    return document, manifest


def _synced(document: dict[str, Any], manifest: Manifest) -> tuple[str, dict[str, Any]]:
    text = compose.render(to_appgarden(document, manifest), manifest)
    return text, parse_yaml(text)


@PROPERTY_SETTINGS
@given(compose_documents())
def test_the_output_always_passes_the_app_garden_rules(case):
    document, manifest = case
    _, synced = _synced(document, manifest)
    problems = compose.appgarden_problems(AppGardenFile(synced, Path("docker-compose.appgarden.yml"), manifest.version))
    assert problems == []


@PROPERTY_SETTINGS
@given(compose_documents())
def test_sync_is_idempotent(case):
    document, manifest = case
    text, synced = _synced(document, manifest)
    assert _synced(document, manifest)[0] == text  # same input, same bytes
    assert compose.render(to_appgarden(synced, manifest), manifest) == text  # syncing the output changes nothing


@PROPERTY_SETTINGS
@given(compose_documents())
def test_external_images_never_change_and_services_are_kept_in_order(case):
    document, manifest = case
    _, synced = _synced(document, manifest)
    assert list(synced["services"]) == list(document["services"])
    for name, service in document["services"].items():
        image = service.get("image")
        out = synced["services"][name]["image"]
        if image is not None and not images.is_project_image(image):
            assert out == image
        else:
            assert out == images.service_image(manifest.name, name, service, manifest.version, "prod")


@PROPERTY_SETTINGS
@given(compose_documents())
def test_environment_in_list_and_mapping_form_survives_unchanged(case):
    document, manifest = case
    _, synced = _synced(document, manifest)
    for name, service in document["services"].items():
        if "environment" in service:
            assert synced["services"][name]["environment"] == service["environment"]


@settings(max_examples=8, deadline=None)
@given(compose_documents())
def test_compose_v2_accepts_the_output(case):
    if compose_cli.command() is None:
        pytest.skip("Compose v2 is not installed")
    document, manifest = case
    text, _ = _synced(document, manifest)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "docker-compose.appgarden.yml"
        path.write_text(text)
        assert compose_cli.config_problems(path) == []


# --- dump_yaml's libyaml fast path writes the reference emitter's bytes ---------------------------------------------

_TRICKY = ["- x", "a:", "a: b", "#", "yes", "on", "0755", "1e3", "-", "", " ", "? x", "|", ">", "*a", "&a", "!t", "%x", "@x", "`x", "null", "~", "2222:22", "[a]", "{a}", "'", '"', "-;", "a #b", "x\ny", "é", "\t"]
_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12) | st.sampled_from(_TRICKY)
_scalars = _text | st.integers(-(10**6), 10**6) | st.booleans() | st.none() | st.floats(allow_nan=False, width=32)
_documents = st.dictionaries(_text, st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=30), min_size=1, max_size=5)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_documents)
def test_dump_yaml_through_libyaml_gives_the_reference_bytes(document):
    assert compose.dump_yaml(document) == compose.reference_dump_yaml(document)


@PROPERTY_SETTINGS
@given(compose_documents())
def test_dump_yaml_of_app_garden_documents_gives_the_reference_bytes(case):
    document, manifest = case
    garden = compose.to_appgarden(document, manifest, stage="dev")
    assert compose.dump_yaml(garden) == compose.reference_dump_yaml(garden)
