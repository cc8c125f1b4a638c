"""Test helpers for llmx and for users testing their own extraction pipelines.

:class:`FakeOpenAI` is a scripted OpenAI-compatible HTTP server: point a real ``openai``
(or ``instructor``) client at ``server.base_url`` and script its answers with the reply
builders (:func:`structured`, :func:`text`, :func:`error`, :func:`delay`, ...).

The names are imported lazily, so ``python -m llmx.testing`` (the server as a
standalone process) runs cleanly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmx.testing._recording import RecordedRequest
    from llmx.testing._replies import (
        Delay,
        Drop,
        Error,
        Hang,
        Reply,
        Responder,
        Structured,
        Text,
        ToolArgs,
        Truncated,
        delay,
        drop,
        error,
        hang,
        structured,
        text,
        tool_args,
        truncated,
    )
    from llmx.testing._server import FakeOpenAI

__all__ = [
    "Delay",
    "Drop",
    "Error",
    "FakeOpenAI",
    "Hang",
    "RecordedRequest",
    "Reply",
    "Responder",
    "Structured",
    "Text",
    "ToolArgs",
    "Truncated",
    "delay",
    "drop",
    "error",
    "hang",
    "structured",
    "text",
    "tool_args",
    "truncated",
]


#: the private module defining each name; everything else is a reply or its builder
_HOMES = {"FakeOpenAI": "_server", "RecordedRequest": "_recording"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{_HOMES.get(name, '_replies')}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
