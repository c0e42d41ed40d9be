"""docker-compose.yml: Compose's own model accepts it, Dockerfiles exist, no host privileges.

One test per extension; the rules live in release.engine (family "compose").
"""

from __future__ import annotations

from checks.support import show_family


def test_compose(request, extension, engine_repo):
    show_family(request, engine_repo.results(extension, "compose"), "compose", engine_repo.root)
