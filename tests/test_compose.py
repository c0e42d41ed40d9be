"""release/compose.py: YAML fidelity, the App Garden transform (rule by rule) and the App Garden rules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from release import compose, compose_cli
from release.compose import AppGardenFile, parse_yaml, to_appgarden
from release.errors import HarnessError
from release.manifest import Manifest

SOURCE = Path("docker-compose.yml")


def manifest(version: str = "1.2.3", name: str = "demo", allowed: tuple[str, ...] = ()) -> Manifest:
    data = {"name": name, "version": version}
    if allowed:
        data["validation"] = {"allowed_bind_mounts": list(allowed)}
    return Manifest(Path("kamiwaza.json"), data)


def doc(text: str) -> dict:
    return parse_yaml(textwrap.dedent(text))


def sync(text: str, **kwargs) -> dict:
    """Source text -> App Garden document, through the written text (as `make sync-compose` does)."""
    made = to_appgarden(doc(text), kwargs.pop("manifest", manifest()), path=SOURCE, **kwargs)
    return parse_yaml(compose.render(made, manifest()))


def service(text: str, name: str = "api", **kwargs) -> dict:
    return sync(text, **kwargs)["services"][name]


def one_service(body: str, **kwargs) -> dict:
    """A document with one service `api` whose keys are `body` (indented by the caller's dedent)."""
    text = "services:\n  api:\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return service(text, **kwargs)


def garden(document: dict, version: str = "1.2.3", allowed: tuple[str, ...] = ()) -> AppGardenFile:
    return AppGardenFile(document, Path("docker-compose.appgarden.yml"), version, allowed)


# --- Reading YAML the way Compose v2 does --------------------------------------------------------


def test_scalars_are_read_as_yaml_1_2_like_compose():
    loaded = doc(
        """
        ports: [2222:22, 8080:80]
        env: {A: on, B: yes, C: no, D: true, E: 0755, F: 1e3, G: 2024-01-01, H: 0.5, I: ~}
        """
    )
    assert loaded["ports"] == ["2222:22", "8080:80"]  # safe_load gives 133342 for 2222:22
    assert loaded["env"] == {"A": "on", "B": "yes", "C": "no", "D": True, "E": 493, "F": 1000.0, "G": "2024-01-01", "H": 0.5, "I": None}


def test_strings_any_yaml_reader_could_misread_are_quoted():
    text = compose.dump_yaml({"e": {k: k for k in ("yes", "on", "2222:22", "1e3", "0o17", "2024-01-01", "null", "8000")}})
    for value in ("yes", "on", "2222:22", "1e3", "0o17", "2024-01-01", "null", "8000"):
        assert f"'{value}'" in text
    assert parse_yaml(text)["e"] == {k: k for k in ("yes", "on", "2222:22", "1e3", "0o17", "2024-01-01", "null", "8000")}


def test_anchors_and_merge_keys_are_expanded_and_no_anchor_is_written():
    result = sync(
        """
        x-health: &health
          interval: 2s
          retries: 3
        x-env: &env [A=1]
        services:
          api:
            image: redis:7
            environment: *env
            healthcheck:
              <<: *health
              test: [CMD, true]
          web:
            image: nginx:1.27
            environment: *env
        """
    )
    assert result["services"]["api"]["healthcheck"] == {"interval": "2s", "retries": 3, "test": ["CMD", True]}
    text = compose.render(result, manifest())
    assert "&" not in text and "*env" not in text and "<<" not in text


def test_multi_line_strings_are_written_as_literal_blocks():
    made = to_appgarden(doc("services:\n  api:\n    image: redis:7\n    command: [sh, -c, \"set -e\\necho hi\\nexec redis-server\\n\"]\n"), manifest())
    text = compose.render(made, manifest())
    assert "      - |\n        set -e\n        echo hi\n        exec redis-server\n" in text


def test_render_starts_with_a_generated_header_and_is_deterministic():
    made = to_appgarden(doc("services:\n  api:\n    build: .\n"), manifest())
    text = compose.render(made, manifest())
    assert text.splitlines()[0].startswith("# GENERATED FILE")
    assert "`make sync-compose`" in text.splitlines()[1] and "docker-compose.yml and kamiwaza.json" in text.splitlines()[1]
    assert text == compose.render(to_appgarden(doc("services:\n  api:\n    build: .\n"), manifest()), manifest())


# --- Transform: build and image ------------------------------------------------------------------


def test_build_only_service_gets_the_project_image_where_build_was():
    api = one_service("environment: [A=1]\nbuild: {context: ./api, dockerfile: Dockerfile}\nrestart: always\n")
    assert list(api)[:3] == ["environment", "image", "restart"]
    assert api["image"] == "kamiwazaai/demo-api:1.2.3"
    assert "build" not in api


def test_service_with_image_and_build_keeps_its_image_name_and_loses_build():
    assert one_service("build: .\nimage: kamiwazaai/demo-api:0.0.1\n") == one_service("image: kamiwazaai/demo-api:1.2.3\n")
    assert one_service("build: .\nimage: kamiwazaai/demo-api\n")["image"] == "kamiwazaai/demo-api:1.2.3"


@pytest.mark.parametrize(
    ("version", "tag"),
    [("1.2.3", "1.2.3"), ("2.0.0-rc.1", "2.0.0-rc.1"), ("1.0.0+build.7", "1.0.0_build.7")],
)
def test_project_images_get_the_manifest_version_never_a_v_prefix(version, tag):
    api = one_service("image: kamiwazaai/demo-api:v0.0.9\n", manifest=manifest(version))
    assert api["image"] == f"kamiwazaai/demo-api:{tag}"


def test_a_stage_gives_stage_tags_without_changing_anything_else():
    made = to_appgarden(doc("services:\n  api:\n    build: .\n  db:\n    image: postgres:16\n"), manifest(), stage="dev")
    assert made["services"]["api"]["image"] == "kamiwazaai/demo-api:1.2.3-dev"
    assert made["services"]["db"]["image"] == "postgres:16"


@pytest.mark.parametrize(
    "image",
    [
        "redis:7-bookworm",
        "postgres",
        "nginx:latest",
        "ghcr.io/acme/tool:2.0.1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "localhost:5000/kamiwazaai/demo-api:0.0.1",
        "${REGISTRY:-docker.io}/library/redis:7",
        "bitnami/kamiwazaai:1",
    ],
)
def test_images_of_others_are_preserved_byte_for_byte(image):
    assert one_service(f"image: '{image}'\n")["image"] == image


def test_service_names_that_cannot_name_an_image_are_refused():
    with pytest.raises(HarnessError) as caught:
        sync("services:\n  Api:\n    build: .\n")
    assert caught.value.problems[0].field == "services.Api"


def test_pull_policy_build_is_dropped_with_build():
    assert "pull_policy" not in one_service("build: .\npull_policy: build\n")
    assert one_service("image: redis:7\npull_policy: always\n")["pull_policy"] == "always"


# --- Transform: ports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('"8080:8000"', "8000"),
        ('"127.0.0.1:8080:8000"', "8000"),
        ('"127.0.0.1::9000"', "9000"),
        ('"[::1]:8080:80"', "80"),
        ('"8080:8000/udp"', "8000/udp"),
        ('"${HOST_PORT:-18090}:${PORT:-18090}"', "18090"),
        ('"127.0.0.1:${HOST_PORT:-1}:${PORT-7000}"', "7000"),
        ('"${P:-${Q:-7100}}"', "7100"),
        ('"9000-9002:8000-8002"', "8000-8002"),
        ("2222:22", "22"),
        ('"8000"', "8000"),
        ("8000", 8000),
    ],
)
def test_short_ports_become_container_only(entry, expected):
    assert one_service(f"image: redis:7\nports:\n  - {entry}\n")["ports"] == [expected]


def test_long_ports_lose_published_and_host_ip_only():
    api = one_service("image: redis:7\nports:\n  - {target: 80, published: 8080, host_ip: 127.0.0.1, protocol: tcp, name: web}\n  - {target: '${PORT:-81}'}\n")
    assert api["ports"] == [{"target": 80, "protocol": "tcp", "name": "web"}, {"target": "81"}]


def test_ports_that_collapse_to_the_same_container_port_are_listed_once():
    assert one_service("image: redis:7\nports: ['127.0.0.1:80:80', '[::1]:80:80', '443:443']\n")["ports"] == ["80", "443"]


@pytest.mark.parametrize("entry", ['"${HOST}:${PORT}"', '"8080:${PORT:?set PORT}"', '"$PORT"'])
def test_a_container_port_without_a_default_is_an_error_naming_the_entry(entry):
    with pytest.raises(HarnessError) as caught:
        one_service(f"image: redis:7\nports:\n  - '8000'\n  - {entry}\n")
    problem = caught.value.problems[0]
    assert problem.field == "services.api.ports[1]" and problem.file == SOURCE and "default" in problem.fix


# --- Transform: volumes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    ["./data:/data", "/srv/data:/data:ro", "~/cache:/cache", ".:/app", "${PWD}/x:/x", "${DATA:-./data}:/data", "{type: bind, source: ./x, target: /x}"],
)
def test_bind_mounts_are_removed(entry):
    api = one_service(f"image: redis:7\nvolumes:\n  - {entry}\n  - data:/data\n")
    assert api["volumes"] == ["data:/data"]


@pytest.mark.parametrize(
    "entry",
    ["data:/data", "data:/data:ro", "/anonymous", "${VOL:-data}:/data", "{type: volume, source: data, target: /data}", "{type: tmpfs, target: /tmp}"],
)
def test_named_anonymous_and_tmpfs_volumes_are_kept(entry):
    source = doc(f"services:\n  api:\n    image: redis:7\n    volumes:\n      - {entry}\nvolumes:\n  data:\n")
    assert to_appgarden(source, manifest())["services"]["api"]["volumes"] == source["services"]["api"]["volumes"]


def test_a_volumes_list_left_empty_is_removed():
    assert "volumes" not in one_service("image: redis:7\nvolumes: [./a:/a, /b:/b]\n")


def test_allowed_bind_mounts_are_kept_exactly_as_written():
    api = one_service("image: redis:7\nvolumes: [./models:/models, ./other:/other]\n", manifest=manifest(allowed=("./models",)))
    assert api["volumes"] == ["./models:/models"]


def test_top_level_driver_opts_pointing_at_host_paths_are_dropped():
    result = sync(
        """
        services:
          api: {image: redis:7, volumes: [data:/data, nfs:/nfs, cache:/cache]}
        volumes:
          data:
            driver: local
            driver_opts: {type: none, o: bind, device: /srv/data}
          cache:
            driver_opts: {type: none, o: bind, device: ./cache}
          nfs:
            driver_opts: {type: nfs, o: "addr=10.0.0.1,rw", device: ":/export"}
        """
    )
    assert result["volumes"] == {
        "data": {"driver": "local"},
        "cache": None,
        "nfs": {"driver_opts": {"type": "nfs", "o": "addr=10.0.0.1,rw", "device": ":/export"}},
    }


# --- Transform: names and networks ----------------------------------------------------------------


def test_container_name_is_removed():
    assert "container_name" not in one_service("image: redis:7\ncontainer_name: fixed\n")


def test_host_specific_network_settings_are_removed_and_plain_networks_kept():
    result = sync(
        """
        services:
          api:
            image: redis:7
            networks:
              backend: {ipv4_address: 172.30.0.5, aliases: [db]}
              front:
        networks:
          backend:
            name: fixed-backend
            external: true
            driver_opts: {com.docker.network.bridge.name: br-fixed}
            ipam: {config: [{subnet: 172.30.0.0/16}]}
          front:
            driver: bridge
            internal: true
          hostnet:
            driver: host
        """
    )
    assert result["networks"] == {"backend": None, "front": {"driver": "bridge", "internal": True}, "hostnet": None}
    assert result["services"]["api"]["networks"] == {"backend": {"aliases": ["db"]}, "front": None}


# --- Transform: extra_hosts and limits -----------------------------------------------------------


def test_extra_hosts_for_the_host_gateway_is_added_after_the_source_keys():
    api = one_service("image: redis:7\nrestart: always\n")
    assert list(api) == ["image", "restart", "extra_hosts", "deploy"]
    assert api["extra_hosts"] == ["host.docker.internal:host-gateway"]


@pytest.mark.parametrize(
    ("extra_hosts", "expected"),
    [
        ("['host.docker.internal:10.0.0.1']", ["host.docker.internal:10.0.0.1"]),
        ("['db.local:10.0.0.2']", ["db.local:10.0.0.2", "host.docker.internal:host-gateway"]),
        ("{db.local: 10.0.0.2}", {"db.local": "10.0.0.2", "host.docker.internal": "host-gateway"}),
    ],
)
def test_existing_extra_hosts_are_kept_and_completed(extra_hosts, expected):
    assert one_service(f"image: redis:7\nextra_hosts: {extra_hosts}\n")["extra_hosts"] == expected


@pytest.mark.parametrize(
    ("name", "image", "limits"),
    [
        ("db", "postgres:16", {"cpus": "0.5", "memory": "512M"}),
        ("store", "bitnami/mongodb:7", {"cpus": "0.5", "memory": "512M"}),
        ("mariadb", None, {"cpus": "0.5", "memory": "512M"}),
        ("cache", "redis:7-bookworm", {"cpus": "0.25", "memory": "256M"}),
        ("kv", "valkey/valkey:8", {"cpus": "0.25", "memory": "256M"}),
        ("frontend", None, {"cpus": "0.5", "memory": "512M"}),
        ("proxy", "nginx:1.27", {"cpus": "0.5", "memory": "512M"}),
        ("web-ui", "node:20", {"cpus": "0.5", "memory": "512M"}),
        ("backend", None, {"cpus": "1.0", "memory": "1G"}),
        ("worker", "python:3.12-slim", {"cpus": "1.0", "memory": "1G"}),
    ],
)
def test_missing_limits_get_defaults_by_kind(name, image, limits):
    body = f"image: {image}\n" if image else "build: .\n"
    result = sync(f"services:\n  {name}:\n" + textwrap.indent(body, "    "), manifest=manifest(name="redis-browser"))
    assert result["services"][name]["deploy"]["resources"]["limits"] == limits


def test_existing_limits_and_other_deploy_settings_are_kept():
    api = one_service("image: postgres:16\ndeploy:\n  replicas: 1\n  resources:\n    limits: {memory: 2G}\n    reservations: {memory: 1G}\n")
    assert api["deploy"] == {"replicas": 1, "resources": {"limits": {"memory": "2G"}, "reservations": {"memory": "1G"}}}
    api = one_service("image: postgres:16\ndeploy: {replicas: 2}\n")
    assert api["deploy"] == {"replicas": 2, "resources": {"limits": {"cpus": "0.5", "memory": "512M"}}}


def test_service_level_cpus_and_mem_limit_become_the_limits():
    api = one_service("image: python:3.12\ncpus: 2\nmem_limit: 3g\n")
    assert api["deploy"]["resources"]["limits"] == {"cpus": "2", "memory": "3g"}


def test_resource_kind_table_is_data():
    assert {kind.name for kind in compose.RESOURCE_KINDS} == {"database", "cache", "frontend"}
    assert compose.resource_kind("api", "kamiwazaai/redis-browser-api:1.0.0") is compose.DEFAULT_KIND


# --- Transform: what it leaves alone, and the input ---------------------------------------------


def test_environment_depends_on_healthcheck_and_top_level_order_survive():
    source = doc(
        """
        name: demo
        services:
          api:
            image: redis:7
            environment: {A: "1", B: "on"}
            depends_on: {db: {condition: service_healthy, restart: true}}
            healthcheck: {test: [CMD, redis-cli, ping], interval: 2s}
          db:
            image: postgres:16
            environment: [POSTGRES_PASSWORD=x, "FLAG=yes"]
        volumes: {}
        x-note: kept
        """
    )
    result = to_appgarden(source, manifest())
    assert list(result) == ["name", "services", "volumes", "x-note"]
    for key in ("environment", "depends_on", "healthcheck"):
        assert result["services"]["api"][key] == source["services"]["api"][key]
    assert result["services"]["db"]["environment"] == ["POSTGRES_PASSWORD=x", "FLAG=yes"]


def test_the_input_document_is_not_changed():
    source = doc("services:\n  api:\n    build: .\n    ports: ['80:80']\n    extra_hosts: [a:1.1.1.1]\n")
    snapshot = repr(source)
    to_appgarden(source, manifest())
    assert repr(source) == snapshot


def test_the_transform_is_a_fixed_point():
    once = to_appgarden(doc("services:\n  api:\n    build: .\n    ports: ['80:80']\n    volumes: [./x:/x]\n"), manifest())
    assert to_appgarden(once, manifest()) == once


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("- a\n- b\n", None, "not a YAML mapping"),
        ("name: x\n", "services", "no services"),
        ("services: {}\n", "services", "no services"),
        ("services:\n  api:\n    ports: ['80']\n", "services.api", "neither image nor build"),
        ("services:\n  api: redis\n", "services.api", "not a mapping"),
        ("services:\n  api:\n    image: redis:7\n    ports: '80:80'\n", "services.api.ports", "not a list"),
        ("services:\n  api:\n    image: redis:7\n    volumes: data:/data\n", "services.api.volumes", "not a list"),
        ("services:\n  api:\n    image: redis:7\n    ports: [{published: 80}]\n", "services.api.ports[0]", "no target"),
        ("services:\n  api:\n    image: ''\n", "services.api.image", "non-empty"),
    ],
)
def test_bad_documents_are_errors_naming_file_and_key(text, field, words):
    with pytest.raises(HarnessError) as caught:
        to_appgarden(parse_yaml(text), manifest(), path=SOURCE)
    problem = caught.value.problems[0]
    assert problem.field == field and words in problem.message and problem.file == SOURCE


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "docker-compose.yml"
    path.write_text("services:\n  api:\n    image: redis:7\n   ports: [\n")
    with pytest.raises(HarnessError) as caught:
        compose.load_compose(path)
    problem = caught.value.problems[0]
    assert "not valid YAML" in problem.message and (problem.line, problem.column) == (4, 4) and problem.file == path
    assert "docker-compose.yml:4:4: is not valid YAML" in problem.render()


# --- App Garden rules, each both ways --------------------------------------------------------------

# rule id -> (a document breaking it, the field named, whether `make sync-compose` repairs it)
RULE_CASES = {
    "no-host-ports": ("services:\n  api:\n    image: redis:7\n    ports: ['8000', '127.0.0.1:80:80']\n", "services.api.ports[1]", True),
    "no-host-ports-long": ("services:\n  api:\n    image: redis:7\n    ports: [{target: 80, published: 8080}]\n", "services.api.ports[0]", True),
    "no-bind-mounts": ("services:\n  api:\n    image: redis:7\n    volumes: [data:/d, ./x:/x]\nvolumes: {data: }\n", "services.api.volumes[1]", True),
    "no-bind-mounts-long": ("services:\n  api:\n    image: redis:7\n    volumes: [{type: bind, source: /srv, target: /srv}]\n", "services.api.volumes[0]", True),
    "no-bind-mounts-driver-opts": (
        "services:\n  api:\n    image: redis:7\n    volumes: [d:/d]\nvolumes:\n  d:\n    driver_opts: {type: none, o: bind, device: /srv}\n",
        "volumes.d.driver_opts",
        True,
    ),
    "no-build": ("services:\n  api:\n    build: .\n    image: kamiwazaai/demo-api:1.2.3\n", "services.api.build", True),
    "no-host-privileges-privileged": ("services:\n  api:\n    image: redis:7\n    privileged: true\n", "services.api.privileged", False),
    "no-host-privileges-network": ("services:\n  api:\n    image: redis:7\n    network_mode: host\n", "services.api.network_mode", False),
    "no-host-privileges-pid": ("services:\n  api:\n    image: redis:7\n    pid: host\n", "services.api.pid", False),
    "no-host-privileges-socket": (
        "services:\n  api:\n    image: redis:7\n    volumes: ['//var/run/docker.sock:/var/run/docker.sock']\n",
        "services.api.volumes[0]",
        False,
    ),
    "no-host-privileges-cap-all": ("services:\n  api:\n    image: redis:7\n    cap_add: [ALL]\n", "services.api.cap_add[0]", False),
    "no-host-privileges-cap-sys-admin": ("services:\n  api:\n    image: redis:7\n    cap_add: [cap_sys_admin]\n", "services.api.cap_add[0]", False),
    "resource-limits": ("services:\n  api:\n    image: redis:7\n    deploy: {replicas: 1}\n", "services.api.deploy.resources.limits", True),
    "host-gateway": (
        "services:\n  api:\n    image: redis:7\n    environment: [KAMIWAZA=http://host.docker.internal:7777]\n    extra_hosts: ['db:10.0.0.1']\n",
        "services.api.extra_hosts",
        True,
    ),
    "tagged-images": ("services:\n  api:\n    image: postgres\n", "services.api.image", False),
    "tagged-images-latest": ("services:\n  api:\n    image: redis:latest\n", "services.api.image", False),
    "tagged-images-missing": ("services:\n  api:\n    build: .\n", "services.api.image", True),
    "project-image-version": ("services:\n  api:\n    image: kamiwazaai/demo-api:1.0.0\n", "services.api.image", True),
}


def _rule(case: str) -> compose.Rule:
    return next(rule for rule in compose.APPGARDEN_RULES if case.startswith(rule.id))


def test_every_rule_has_a_case():
    assert {rule.id for rule in compose.APPGARDEN_RULES} <= {_rule(case).id for case in RULE_CASES}


@pytest.mark.parametrize("case", RULE_CASES)
def test_a_document_breaking_a_rule_is_rejected(case):
    text, field, _ = RULE_CASES[case]
    problems = _rule(case).check(garden(parse_yaml(text)))
    assert [p.field for p in problems] == [field]
    assert all(p.fix for p in problems)


@pytest.mark.parametrize("case", [case for case, (_, _, repaired) in RULE_CASES.items() if repaired])
def test_the_synced_document_passes_the_rule(case):
    synced = to_appgarden(parse_yaml(RULE_CASES[case][0]), manifest())
    assert _rule(case).check(garden(synced)) == []
    assert compose.appgarden_problems(garden(synced)) == []


@pytest.mark.parametrize("case", [case for case, (_, _, repaired) in RULE_CASES.items() if not repaired])
def test_what_sync_cannot_decide_still_fails_after_sync(case):
    synced = to_appgarden(parse_yaml(RULE_CASES[case][0]), manifest(allowed=("//var/run/docker.sock",)))
    assert _rule(case).check(garden(synced))


def test_allowed_bind_mounts_pass_but_never_exempt_the_docker_socket():
    document = parse_yaml("services:\n  api:\n    image: redis:7\n    volumes: [./models:/m, /var/run/docker.sock:/var/run/docker.sock]\n")
    allowed = ("./models", "/var/run/docker.sock")
    assert compose.bind_mount_problems(garden(document, allowed=allowed)) == []
    assert [p.field for p in compose.privilege_problems(garden(document, allowed=allowed))] == ["services.api.volumes[1]"]


def test_images_pinned_by_digest_and_plain_tags_pass():
    document = parse_yaml("services:\n  a: {image: 'redis@sha256:abc'}\n  b: {image: 'redis:7'}\n  c: {image: 'kamiwazaai/demo-c:1.2.3'}\n")
    assert compose.image_tag_problems(garden(document)) == []
    assert compose.project_version_problems(garden(document)) == []
    assert compose.project_version_problems(garden(document, version="1.2.4"))[0].field == "services.c.image"


def test_compose_v2_acceptance_both_ways(tmp_path):
    if compose_cli.command() is None:
        pytest.skip("Compose v2 is not installed")
    good = tmp_path / "good.yml"
    good.write_text(compose.render(to_appgarden(doc(RULE_CASES["no-bind-mounts"][0]), manifest()), manifest()))
    assert compose_cli.config_problems(good) == []
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  api:\n    image: redis:7\n    deploy: {resources: {limits: {cpus: lots}}}\n")
    assert compose_cli.config_problems(bad)


# --- Host privileges on the model Compose reads (source and App Garden), each spelling both ways ----

PRIVILEGE_CASES = {
    # case: (service keys refused, field named, the same key in a form that is fine)
    "privileged-bool": ("privileged: true", "services.api.privileged", "privileged: false"),
    "privileged-string": ('privileged: "true"', "services.api.privileged", 'privileged: "false"'),
    "privileged-build": ("build: {context: ., privileged: true}", "services.api.build.privileged", "build: {context: .}"),
    "cap-add": ("cap_add: [NET_ADMIN]", "services.api.cap_add[0]", "cap_drop: [NET_ADMIN]"),
    "cap-add-all": ("cap_add: [all]", "services.api.cap_add[0]", "cap_add: []"),
    "cap-add-sys-admin": ("cap_add: [CAP_SYS_ADMIN]", "services.api.cap_add[0]", "cap_add: []"),
    "devices": ("devices: [/dev/fuse]", "services.api.devices[0]", "devices: []"),
    "device-cgroup-rules": ("device_cgroup_rules: ['c 1:3 mr']", "services.api.device_cgroup_rules[0]", "device_cgroup_rules: []"),
    "pid": ("pid: host", "services.api.pid", "pid: 'container:db'"),
    "pid-default": ("pid: ${PID:-host}", "services.api.pid", "pid: ${PID:-private}"),
    "ipc": ("ipc: host", "services.api.ipc", "ipc: private"),
    "uts": ("uts: host", "services.api.uts", "hostname: api"),
    "userns-mode": ("userns_mode: host", "services.api.userns_mode", "user: '1000'"),
    "cgroup": ("cgroup: host", "services.api.cgroup", "cgroup: private"),
    "network-host": ("network_mode: host", "services.api.network_mode", "network_mode: bridge"),
    "network-container": ("network_mode: 'container:db'", "services.api.network_mode", "network_mode: none"),
    "apparmor": ("security_opt: ['apparmor:unconfined']", "services.api.security_opt[0]", "security_opt: ['apparmor:docker-default']"),
    "seccomp": ("security_opt: ['seccomp=unconfined']", "services.api.security_opt[0]", "security_opt: ['no-new-privileges:true']"),
    "label": ("security_opt: ['label:disable']", "services.api.security_opt[0]", "security_opt: ['label:level:s0']"),
    "systempaths": ("security_opt: ['systempaths=unconfined']", "services.api.security_opt[0]", "security_opt: []"),
    "sysctls": ("sysctls: {net.core.somaxconn: 1024}", "services.api.sysctls.net.core.somaxconn", "ulimits: {nofile: 1024}"),
    "sysctls-list": ("sysctls: ['net.ipv4.ip_forward=1']", "services.api.sysctls[0]", "sysctls: []"),
    "volumes-from": ("volumes_from: [db]", "services.api.volumes_from[0]", "volumes: [data:/data]"),
    "env-file": ("env_file: .env", "services.api.env_file", "environment: {A: '1'}"),
    "socket": ("volumes: ['/var/run/docker.sock:/var/run/docker.sock']", "services.api.volumes[0]", "volumes: ['./var/run:/x']"),
    "socket-folder": ("volumes: ['/var/run:/host-run']", "services.api.volumes[0]", "volumes: ['/srv/run:/x']"),
    "socket-run": ("volumes: [{type: bind, source: /run, target: /r}]", "services.api.volumes[0]", "volumes: [{type: bind, source: /srv, target: /r}]"),
    "socket-root": ("volumes: ['/:/host']", "services.api.volumes[0]", "volumes: ['data:/host']"),
    "socket-slashes": ("volumes: ['//var//run/./docker.sock:/s']", "services.api.volumes[0]", "volumes: ['//srv:/s']"),
}


def _privileges(keys: str, allowed: compose.HostAllowances = compose.HostAllowances()) -> list:
    document = parse_yaml(f"services:\n  api:\n    image: redis:7\n    {keys}\n  db:\n    image: redis:7\n")
    return compose.host_privilege_problems(document, SOURCE, allowed)


@pytest.mark.parametrize("case", PRIVILEGE_CASES)
def test_each_host_privilege_is_refused_naming_service_key_and_fix(case):
    keys, field, _ = PRIVILEGE_CASES[case]
    problems = _privileges(keys)
    assert [p.field for p in problems] == [field]
    assert "api" in problems[0].message and problems[0].fix and problems[0].file == SOURCE


@pytest.mark.parametrize("case", PRIVILEGE_CASES)
def test_the_harmless_spelling_of_each_key_passes(case):
    assert _privileges(PRIVILEGE_CASES[case][2]) == []


def test_a_capability_named_in_validation_is_allowed_but_never_all_or_sys_admin():
    allowed = compose.allowances({"validation": {"allowed_capabilities": ["net_admin", "ALL", "SYS_ADMIN"]}})
    assert _privileges("cap_add: [NET_ADMIN, CAP_NET_ADMIN]", allowed) == []
    assert [p.field for p in _privileges("cap_add: [NET_ADMIN, ALL, sys_admin]", allowed)] == ["services.api.cap_add[1]", "services.api.cap_add[2]"]


def test_the_docker_socket_is_never_allowed_even_when_listed():
    allowed = compose.allowances({"validation": {"allowed_bind_mounts": ["/var/run/docker.sock", "/var/run", "/"]}})
    for keys in ("volumes: ['/var/run/docker.sock:/s']", "volumes: ['/var/run:/s']", "volumes: ['/:/s']"):
        assert len(_privileges(keys, allowed)) == 1


def test_a_variable_without_default_in_a_privileged_key_is_refused():
    assert [p.field for p in _privileges("network_mode: ${MODE}")] == ["services.api.network_mode"]
    assert [p.field for p in _privileges("privileged: ${PRIV}")] == ["services.api.privileged"]


def test_named_volumes_binding_the_socket_folder_and_outside_secrets_are_refused():
    document = parse_yaml(
        "services:\n  api: {image: redis:7, volumes: ['d:/d']}\n"
        "volumes:\n  d:\n    driver_opts: {type: none, o: bind, device: /var/run}\n"
        "secrets:\n  inside: {file: ./secret.txt}\n  outside: {file: ../../etc/passwd}\n  absolute: {file: /etc/shadow}\n"
        "configs:\n  c: {file: ~/conf}\n"
    )
    fields = [p.field for p in compose.host_privilege_problems(document, SOURCE)]
    assert fields == ["volumes.d.driver_opts", "secrets.outside.file", "secrets.absolute.file", "configs.c.file"]


@pytest.mark.parametrize(
    ("detail", "field"),
    [
        ("error while interpolating services.web.privileged: failed to cast to expected type: invalid boolean: maybe", "services.web.privileged"),
        ("services.web.ports.0 must be a string or number", "services.web.ports[0]"),
        ("dependency cycle detected: a -> b -> a", "services.a.depends_on"),
        ("non-string key in services: 1", "services.1"),
        ('service "web" refers to undefined volume nope: invalid compose project', "services.web"),
        ("volumes must be a mapping", "volumes"),
        ("invalid containerPort: -1", "services.web.ports[1]"),
        ("something else entirely", None),
    ],
)
def test_compose_rejections_are_mapped_to_the_key(detail, field):
    from release import compose_cli

    document = {"services": {"web": {"ports": ["80:80", "-1"]}}}
    assert compose_cli.rejected_field(detail, document) == field
