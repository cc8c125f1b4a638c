"""Where llmx finds bundled resources (prompt templates and schemas).

In a source checkout they live beside the package (``prompts/``, ``schemas/``);
in an installed wheel they are bundled under ``llmx/_bundled/``. A user's own
folders (``./prompts``, ``./schemas``) are searched first.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dirs(kind: str) -> list[Path]:
    """Folders to search for ``kind`` ("prompts" or "schemas"), most specific first."""
    candidates = [
        Path.cwd() / kind,
        _PACKAGE_DIR.parent / kind,
        _PACKAGE_DIR / "_bundled" / kind,
    ]
    seen: list[Path] = []
    for path in candidates:
        resolved = path.resolve()
        if resolved.is_dir() and resolved not in seen:
            seen.append(resolved)
    return seen
