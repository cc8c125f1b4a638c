"""Test helpers for llmx and for users testing their own extraction pipelines.

:class:`FakeOpenAI` is a scripted OpenAI-compatible HTTP server: point a real ``openai``
(or ``instructor``) client at ``server.base_url`` and script its answers with the reply
builders (:func:`structured`, :func:`text`, :func:`error`, :func:`delay`, ...).

The names are imported lazily, so ``python -m llmx.testing`` (the server as a
standalone process) runs cleanly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmx.testing._fake_openai import (
        Delay,
        Drop,
        Error,
        FakeOpenAI,
        Hang,
        RecordedRequest,
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        from llmx.testing import _fake_openai as fake_openai

        return getattr(fake_openai, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
