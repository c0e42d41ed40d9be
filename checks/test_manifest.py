"""kamiwaza.json: schema, version grammar, naming, preview image, env defaults, uniqueness.

One test per extension; the rules live in release.engine (family "manifest").
"""

from __future__ import annotations

import warnings

from checks.support import show_family
from release import manifest


def test_manifest(request, extension, engine_repo):
    results = engine_repo.results(extension, "manifest")
    data = engine_repo.inputs(extension).manifest_if_valid()
    if data is not None:
        for key in manifest.unknown_keys(data):
            warnings.warn(f"{extension.manifest_path}: unknown key {key!r} is kept but not validated; check its spelling", UserWarning)
    show_family(request, results, "manifest", engine_repo.root)
