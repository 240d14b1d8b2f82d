#!/usr/bin/env python3
"""Fails when a Rust source file holds more than 800 lines of code.

Lines of code: not blank, not only a comment, and outside `#[cfg(test)]` items (unit
tests live next to the code they test and do not count). Files under a `tests/`
directory are tests and are not checked. Run from anywhere: `scripts/code-size.py`
(`--top N` lists the N largest files).
"""
import subprocess
import sys
from pathlib import Path

LIMIT = 800


def code_lines(text: str) -> int:
    lines = text.split("\n")
    count, i = 0, 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#[cfg(test)]"):
            # Skip the item the attribute applies to: up to its closing brace, or to
            # the `;` of a one-line item (`mod tests;`, `use ...;`).
            depth, opened, j = 0, False, i + 1
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                opened = opened or "{" in lines[j]
                if (opened and depth <= 0) or (not opened and lines[j].rstrip().endswith(";")):
                    break
                j += 1
            i = j + 1
            continue
        if line and not line.startswith("//"):
            count += 1
        i += 1
    return count


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    files = subprocess.run(
        ["git", "ls-files", "*.rs"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.split()
    sizes = sorted(
        ((code_lines((root / f).read_text()), f) for f in files if "/tests/" not in f),
        reverse=True,
    )
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 0
    for n, f in sizes[:top]:
        print(f"{n:5} {f}")
    over = [(n, f) for n, f in sizes if n > LIMIT]
    for n, f in over:
        print(f"code-size: {f} has {n} lines of code (limit {LIMIT}); split it by concern", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
