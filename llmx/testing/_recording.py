"""What :class:`~llmx.testing.FakeOpenAI` remembers of each request it receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received (header names are lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes = b""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat ``messages`` of the request ([] when absent)."""
        if isinstance(self.json, dict):
            messages = self.json.get("messages")
            if isinstance(messages, list):
                return [m for m in messages if isinstance(m, dict)]
        return []

    @property
    def text(self) -> str:
        """All textual message content of the request, joined by newlines."""
        return "\n".join(message_text(m) for m in self.messages)


def message_text(message: Mapping[str, Any]) -> str:
    """The textual content of one chat message (text parts joined by newlines)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""
