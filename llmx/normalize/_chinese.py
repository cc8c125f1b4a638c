"""Traditional -> simplified Chinese: the one OpenCC converter of llmx.

:func:`opencc_t2s` is OpenCC's ``t2s`` conversion and nothing else, so a caller that
maps offsets (:func:`llmx._text.clean.simplified_edits`) can rely on it touching only
Chinese characters. :func:`to_simplified` NFKC-normalises first, for comparing and
looking up names. OpenCC's dictionaries are loaded once, on first use.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Any

__all__ = ["opencc_t2s", "to_simplified"]


@cache
def _t2s_converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def opencc_t2s(text: str) -> str:
    """Traditional -> simplified Chinese with OpenCC ``t2s``, nothing else (no NFKC).

    OpenCC converts phrases as well as characters, so the result may (rarely) differ in
    length from ``text``.
    """
    if not text:
        return text
    return str(_t2s_converter().convert(text))


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (OpenCC ``t2s``), NFKC-normalised."""
    return opencc_t2s(unicodedata.normalize("NFKC", text))
