"""Write a benchmark's figures into its section of docs/PERFORMANCE.md."""

from __future__ import annotations

import platform
import re
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "PERFORMANCE.md"
HEAD = ("# Performance\n\nFigures written by `make bench` (tests/perf/). Each section is "
        "replaced when its benchmark runs again.\n")


def record(section: str, lines: list[str]) -> None:
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEAD
    stamp = (f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'host'}"
             f" ({platform.python_version()})._")
    body = f"## {section}\n\n{stamp}\n\n" + "\n".join(lines) + "\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(body + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + body
    DOC.write_text(text, encoding="utf-8")
