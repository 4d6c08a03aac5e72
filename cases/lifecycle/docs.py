"""Write docs/lifecycle.md from the transition table: `python -m cases.lifecycle.docs`."""

from __future__ import annotations

import sys
from pathlib import Path

from cases.lifecycle.states import markdown_table

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "lifecycle.md"


def main() -> int:
    """Write the file (or with --check, exit 1 when it differs from the table)."""
    text = markdown_table()
    if "--check" in sys.argv[1:]:
        same = DOC.exists() and DOC.read_text(encoding="utf-8") == text
        print("docs/lifecycle.md matches the table" if same else "docs/lifecycle.md is stale")
        return 0 if same else 1
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
