"""How to ask the bundled model for structured output: measured findings.

Measured with llama-cpp-python[server] 0.3.36, Qwen2.5-Coder-1.5B-Instruct Q4_K_M,
2 CPU cores, ``n_ctx=4096``, the raw ``openai`` SDK, temperature 0, the sentence
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
``text``): not recommended; keep the schema as pydantic emits it.

Recommendation: json_object + schema, schema also in the (first, stable) system
message, temperature 0, ``repeat_penalty`` 1.0, model name :data:`MODEL_ALIAS`.
"""

from __future__ import annotations

from typing import Any

from llmx._local.server import MODEL_ALIAS

#: the structured-output mode to use against the local server
RECOMMENDED_MODE = "json_object_schema"
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
        "extra_body": {"repeat_penalty": 1.0},
        "chat_format": RECOMMENDED_CHAT_FORMAT,
    }


def json_object_response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` the llama-cpp server turns into a grammar."""
    return {"type": "json_object", "schema": schema}
