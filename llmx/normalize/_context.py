"""The document a record was extracted from, handed to Pydantic validators.

Extraction validates a model's output with ``context={"llmx": DocumentContext(...)}``
(instructor passes ``context=`` through to ``model_validate``). Validators reach it with
:func:`get_context` and use it to resolve relative dates against the publication date,
to fill place names from the document's home region, and to leave notes about what they
corrected. Every validator must also work without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationInfo

from llmx.normalize._gazetteer import Place
from llmx.normalize._places import home_region

__all__ = ["CONTEXT_KEY", "DocumentContext", "get_context"]

CONTEXT_KEY = "llmx"

_UNSET: Any = object()


@dataclass
class DocumentContext:
    """Cleaned text, publication date and a notes list for one document.

    ``home`` (the document's home region) is computed from ``text`` on first use and
    cached; pass ``home=`` to set it explicitly (``None`` disables home filling).
    """

    text: str = ""
    published: date | None = None
    notes: list[str] = field(default_factory=list)
    home_override: Place | None = field(default=_UNSET, repr=False)
    _home: Place | None = field(default=_UNSET, init=False, repr=False, compare=False)

    @property
    def home(self) -> Place | None:
        if self.home_override is not _UNSET:
            return self.home_override
        if self._home is _UNSET:
            self._home = home_region(self.text)
        return self._home

    def note(self, message: str) -> None:
        """Record a correction, once."""
        if message not in self.notes:
            self.notes.append(message)


def get_context(info: ValidationInfo | None) -> DocumentContext | None:
    """The :class:`DocumentContext` of a validation run, if one was passed."""
    if info is None:
        return None
    ctx = info.context
    if isinstance(ctx, DocumentContext):
        return ctx
    if isinstance(ctx, dict):
        value = ctx.get(CONTEXT_KEY)
        if isinstance(value, DocumentContext):
            return value
    return None
