"""How llmx asks the bundled model's server for structured output.

The llama.cpp profile (:data:`llmx._endpoints.profiles.LLAMA_CPP`) is the one source of
the mode and the extra request body, next to the measurements that chose them
(json_object + schema, ``repeat_penalty`` 1.0). This module adds what belongs to the
local server: the model name :data:`~llmx._local.server.MODEL_ALIAS`, temperature 0, the
default ``max_tokens`` and the ``--chat_format`` to start the server with.
"""

from __future__ import annotations

from typing import Any

from llmx._endpoints.profiles import LLAMA_CPP, json_object_response_format
from llmx._local.server import MODEL_ALIAS

__all__ = [
    "RECOMMENDED_CHAT_FORMAT",
    "RECOMMENDED_MAX_TOKENS",
    "RECOMMENDED_MODE",
    "json_object_response_format",
    "recommended_request_options",
]

#: the structured-output mode to use against the local server
RECOMMENDED_MODE: str = LLAMA_CPP.default_mode.value
#: ``--chat_format`` for the server: ``None`` = the GGUF's own (Qwen) template
RECOMMENDED_CHAT_FORMAT: str | None = None
#: default cap on generated tokens per request (a dense article's JSON fits)
RECOMMENDED_MAX_TOKENS = 2048


def recommended_request_options(max_tokens: int = RECOMMENDED_MAX_TOKENS) -> dict[str, Any]:
    """How llmx should call the local server.

    Keys: ``mode`` (:data:`RECOMMENDED_MODE`: ``response_format={"type":
    "json_object", "schema": <schema>}`` plus the schema in the system message),
    ``model``, ``temperature``, ``max_tokens``, ``extra_body`` (pass through to the
    OpenAI SDK) and ``chat_format`` (for starting the server, not the request).
    Build the request with :func:`json_object_response_format`.
    """
    return {
        "mode": RECOMMENDED_MODE,
        "model": MODEL_ALIAS,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "extra_body": dict(LLAMA_CPP.extra_body),
        "chat_format": RECOMMENDED_CHAT_FORMAT,
    }
