"""docker-compose.appgarden.yml: present, in sync with its sources, App Garden safe, accepted by Compose.

One test per extension; the rules live in release.engine (family "appgarden",
with each of release.compose.APPGARDEN_RULES).
"""

from __future__ import annotations

from checks.support import show_family


def test_appgarden(request, extension, engine_repo):
    show_family(request, engine_repo.results(extension, "appgarden"), "appgarden", engine_repo.root)
