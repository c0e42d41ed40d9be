"""Files the harness writes: canonical JSON, and writes a reader never sees half of."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write beside the target, then rename over it (text is UTF-8 with \\n line ends)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def canonical_json(obj: Any) -> bytes:
    """The one JSON form the harness writes: sorted keys, 2-space indent, UTF-8, trailing newline.

    Same data, same bytes: registries, locks, records and reports diff cleanly and hash stably.
    """
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
