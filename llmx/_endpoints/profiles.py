"""What a family of OpenAI-compatible servers can do, and which server a URL names.

A *profile* describes a family of servers (OpenAI, DeepSeek, llama.cpp, vLLM,
Ollama, generic) and which structured-output *modes* they support. The mode
decides how instructor asks for JSON:

``tools``               a forced function call (instructor ``TOOLS``)
``json_schema``         ``response_format={"type": "json_schema", ...}`` (OpenAI
                        structured outputs, vLLM, Ollama)
``json_object_schema``  ``response_format={"type": "json_object", "schema": ...}``:
                        grammar-constrained JSON on the llama-cpp-python server,
                        which answers HTTP 500 to ``json_schema``
``json``                ``json_object`` with the schema described in the prompt
``md_json``             a fenced JSON block in plain text: works anywhere

An :class:`Endpoint` is a profile resolved against the settings: URL, model, mode.
This module imports neither openai nor instructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel

from llmx._config import Settings
from llmx._errors import ConfigError


class OutputMode(StrEnum):
    TOOLS = "tools"
    JSON_SCHEMA = "json_schema"
    JSON_OBJECT_SCHEMA = "json_object_schema"
    JSON = "json"
    MD_JSON = "md_json"


#: the instructor mode each output mode is asked in (``json_object_schema`` overrides the
#: ``response_format`` of ``json_schema``, see :meth:`EndpointClient.extract`)
INSTRUCTOR_MODES = {
    OutputMode.TOOLS: "tools",
    OutputMode.JSON_SCHEMA: "json_schema",
    OutputMode.JSON_OBJECT_SCHEMA: "json_schema",
    OutputMode.JSON: "json",
    OutputMode.MD_JSON: "md_json",
}


@dataclass(frozen=True)
class Profile:
    """What a family of OpenAI-compatible servers can do."""

    name: str
    default_mode: OutputMode
    modes: frozenset[OutputMode]
    needs_api_key: bool = False
    default_model: str | None = None
    #: extra request body fields this server family wants
    extra_body: tuple[tuple[str, Any], ...] = ()


_ALL = frozenset(OutputMode)

LLAMA_CPP = Profile(
    "llama_cpp",
    OutputMode.JSON_OBJECT_SCHEMA,
    frozenset(
        {OutputMode.TOOLS, OutputMode.JSON_OBJECT_SCHEMA, OutputMode.JSON, OutputMode.MD_JSON}
    ),
    default_model="local",
    # the server's default repeat penalty (1.1) can bend JSON keys and values
    extra_body=(("repeat_penalty", 1.0),),
)
"""The llama-cpp-python server (the bundled local model): how to ask it for JSON.

The one source of these choices; :mod:`llmx._local.options` builds on it. Measured with
llama-cpp-python[server] 0.3.36, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 2 CPU cores,
``n_ctx=4096``, the raw ``openai`` SDK, temperature 0, the sentence
``近日，总投资139亿元的卫蓝新能源固态电池项目落户湖州南太湖新区。`` and two schemas: a
4-field flat model and ``schemas/investment:InvestmentNews`` (nested, ``$defs``,
``Literal`` enums, ``X | None`` fields).

``response_format={"type": "json_object", "schema": <model_json_schema()>}`` -- WORKS.
    The server compiles the schema (``$defs``/``$ref``, ``anyOf``, enums all fine) to
    a GBNF grammar; output is always syntactically valid JSON of the schema's shape
    (both schemas: valid on every try). ``finish_reason`` is ``"length"`` when
    ``max_tokens`` cuts it, so truncation is detectable. The grammar does not make
    optional fields appear: without the schema in the prompt the model emitted
    the bare minimum (required fields only), so the prompt must carry the schema
    too (instructor's ``Mode.JSON`` system message does exactly that).
``response_format={"type": "json_schema", ...}`` (instructor ``Mode.JSON_SCHEMA``) -- FAILS:
    HTTP 500, ``Input should be 'text' or 'json_object'``.
``response_format={"type": "json_object"}`` without ``schema`` (instructor ``Mode.JSON``
as is) -- unconstrained JSON: with no schema in the prompt it invented its own keys.
``tools=[...]`` + ``tool_choice={"type": "function", "function": {"name": N}}``
(instructor ``Mode.TOOLS``) -- WORKS with the model's own chat template (no
    ``--chat_format`` needed; the server uses the GGUF's Jinja template, which
    renders the tool schema into the system prompt): grammar-constrained on the
    tool's ``parameters``, answer in ``message.tool_calls[0].function.arguments``.
    Same output quality as json_object+schema, but ``finish_reason`` is always
    ``"tool_calls"`` -- a truncated answer looks finished (it just fails to parse).
``tool_choice="auto"`` or ``"required"`` -- no grammar, no ``tool_calls``: the model
    writes ``{{"name": ..., "arguments": ...}}`` (the template's own double braces)
    into ``content``; unusable.

Timings (2 cores): prompt evaluation ~40-70 tokens/s, generation ~2-5 tokens/s
with a grammar (the grammar is checked against Qwen's 151k-token vocabulary on
every step, so big schemas are slower per token). The InvestmentNews schema costs
~900 (compact JSON) to ~1300 (indented) prompt tokens. The server keeps the KV
cache of the previous prompt, so a system message that is identical across
documents and comes first is only evaluated once per server (a repeat of a 1346
token prompt: 23.6 s cold, 4.2 s warm).

``repeat_penalty``: the server's default is 1.1, which penalises the quotes,
braces and repeated keys JSON is made of; 1.0 produced the same JSON here and is
the safer setting for structured output (sent via ``extra_body``).

Forcing every property into ``required`` in the grammar schema made the model fill
all fields, but with invented values (``"无"``, made-up dates, a paraphrased
``text``) in this first measurement. llmx does send every property as required
(:func:`grammar_schema`): without it, small models stopped after the required keys
and skipped every optional field.

Recommendation: json_object + schema, schema also in the (first, stable) system
message, temperature 0, ``repeat_penalty`` 1.0.
"""

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("openai", OutputMode.TOOLS, _ALL, needs_api_key=True, default_model="gpt-4o-mini"),
        Profile(
            "deepseek",
            OutputMode.TOOLS,
            frozenset({OutputMode.TOOLS, OutputMode.JSON, OutputMode.MD_JSON}),
            needs_api_key=True,
            default_model="deepseek-chat",
        ),
        LLAMA_CPP,
        Profile("vllm", OutputMode.JSON_SCHEMA, _ALL),
        Profile("ollama", OutputMode.JSON_SCHEMA, _ALL),
        Profile("generic", OutputMode.MD_JSON, _ALL),
    )
}


def detect_profile(base_url: str | None) -> str:
    """Guess the profile from the endpoint URL; ``generic`` when nothing fits."""
    if base_url is None:
        return "openai"
    parsed = urlparse(base_url)
    host = (parsed.hostname or "").lower()
    if host.endswith("openai.com"):
        return "openai"
    if host.endswith("deepseek.com"):
        return "deepseek"
    if parsed.port == 11434:
        return "ollama"
    return "generic"


def is_loopback(base_url: str | None) -> bool:
    """Whether ``base_url`` names this machine (``localhost``, ``127.x.x.x``, ``::1``)."""
    host = urlparse(base_url or "").hostname or ""
    return host in {"localhost", "::1"} or host.startswith("127.")


@cache
def grammar_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema handed to a grammar-constrained server (llama.cpp).

    Every property is made required (nullable ones still accept ``null``): a
    grammar puts required keys first and lets the model stop after them, and small
    models then skip every optional field. Computed once per schema.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            props = out.get("properties")
            if isinstance(props, dict) and out.get("type", "object") == "object":
                out["required"] = list(props)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema.model_json_schema())
    return result


def json_object_response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` of the ``json_object_schema`` mode: the llama-cpp server
    turns ``schema`` into a grammar."""
    return {"type": "json_object", "schema": schema}


@dataclass(frozen=True)
class Endpoint:
    """A resolved endpoint: where to send requests and how to ask for JSON."""

    base_url: str | None
    model: str
    profile: Profile
    mode: OutputMode
    api_key: str | None = field(default=None, repr=False)
    identity_override: str | None = None

    @property
    def identity(self) -> str:
        """Stable identity for cache keys: the URL without credentials, never the key."""
        if self.identity_override:
            return self.identity_override
        parsed = urlparse(self.base_url or "https://api.openai.com/v1")
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{host}{port}{parsed.path.rstrip('/')}"

    @classmethod
    def from_settings(cls, settings: Settings, *, identity: str | None = None) -> Endpoint:
        name = settings.profile or detect_profile(settings.base_url)
        profile = PROFILES.get(name)
        if profile is None:
            raise ConfigError(
                f"unknown endpoint profile {name!r}", choices=", ".join(sorted(PROFILES))
            )
        try:
            mode = OutputMode(settings.mode) if settings.mode else profile.default_mode
        except ValueError as exc:
            raise ConfigError(
                f"unknown mode {settings.mode!r}", choices=", ".join(m.value for m in OutputMode)
            ) from exc
        if mode not in profile.modes:
            raise ConfigError(
                f"mode {mode.value} is not supported by the {profile.name} profile",
                supported=", ".join(sorted(m.value for m in profile.modes)),
            )
        model = settings.model or profile.default_model
        if model is None:
            raise ConfigError(
                "no model given: pass --model (or set LLMX_MODEL)", endpoint=settings.base_url
            )
        if profile.needs_api_key and not settings.api_key:
            raise ConfigError(
                "this endpoint needs an API key: set LLMX_API_KEY or OPENAI_API_KEY",
                profile=profile.name,
            )
        return cls(
            base_url=settings.base_url,
            model=model,
            profile=profile,
            mode=mode,
            api_key=settings.api_key,
            identity_override=identity,
        )
