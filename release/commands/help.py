from __future__ import annotations

from release import cli
from release.config import Settings


def run(settings: Settings, args) -> int:
    print("Kamiwaza extensions: make targets (variables may also come from the environment or .env)\n")
    for line in cli.usage_lines():
        target, _, summary = line.partition("  - ")
        print(f"  {target}\n      {summary}")
    return 0
