"""Root pytest configuration shared by `checks/` (the monorepo) and `tests/` (the harness)."""

pytest_plugins = [
    "tests.plugins.infra",
    "tests.plugins.docker_engine",
    "tests.plugins.s3_server",
]
