"""Platform rules Kamiwaza enforces (non-root on Kubernetes): ports, EXPOSE, USER.

One test per extension; the rules live in release.platform (PLATFORM_RULES), run by
release.engine as the family "platform".
"""

from __future__ import annotations

from checks.support import show_family


def test_platform(request, extension, engine_repo):
    show_family(request, engine_repo.results(extension, "platform"), "platform", engine_repo.root)
