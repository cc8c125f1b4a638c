"""The breakdown phase: each piece of the per-document path timed alone, in this
process, as CPU milliseconds per document."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.bench.corpus import MODEL, PUBLISHED, RECORD, SCHEMA, text_for
from llmx._types import Result


def _cpu_per_item(fn: Callable[[int], object], n: int) -> float:
    """CPU milliseconds per call of ``fn(i)`` for ``i`` in ``range(n)``."""
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1000


def breakdown(url: str, n: int, work: Path) -> dict[str, float]:
    """CPU ms per document of each piece of the per-document path, timed in isolation."""
    import httpx
    import openai

    from llmx._cache import CachedAnswer, ResponseCache, cache_key
    from llmx._config import Settings
    from llmx._endpoints._instructor import fast_response_model
    from llmx._endpoints.client import EndpointClient
    from llmx._endpoints.profiles import Endpoint
    from llmx._extractor import Extractor
    from llmx._ground import ground_record
    from llmx._schemas import load_schema
    from llmx._text.clean import clean_text
    from llmx._text.decode import to_text
    from llmx._text.meta import find_published
    from llmx._types import Usage
    from llmx._writer import ResultWriter
    from llmx.normalize._context import DocumentContext

    schema = load_schema(SCHEMA)
    model = fast_response_model(schema)
    extractor = Extractor(schema, cache=False)
    reply = json.dumps(RECORD, ensure_ascii=False)
    texts = [text_for(10_000 + i) for i in range(n)]
    cleaned = [clean_text(to_text(t)) for t in texts]

    def messages(i: int) -> list[dict[str, str]]:
        return extractor.messages_for(cleaned[i].text, published=PUBLISHED, doc_id=f"b{i}")

    rendered = [messages(i) for i in range(n)]
    records = [
        model.model_validate_json(
            reply, context={"llmx": DocumentContext(text=c.text, published=None)}
        )
        for c in cleaned
    ]
    out: dict[str, float] = {}

    def decode_clean(i: int) -> None:
        decoded = to_text(texts[i])
        clean_text(decoded)
        find_published(decoded)

    out["decode + clean (OpenCC)"] = _cpu_per_item(decode_clean, n)
    out["prompt render + cache key"] = _cpu_per_item(
        lambda i: cache_key({"messages": messages(i), "schema": "x", "params": {"t": 0}}), n
    )
    out["validation + normalisers"] = _cpu_per_item(
        lambda i: model.model_validate_json(
            reply, context={"llmx": DocumentContext(text=cleaned[i].text, published=None)}
        ),
        n,
    )
    out["grounding"] = _cpu_per_item(lambda i: ground_record(records[i], cleaned[i]), n)
    cache = ResponseCache(work / "breakdown-cache")
    answer = CachedAnswer(content=reply, prompt_tokens=100, completion_tokens=20)

    def cache_set_get(i: int) -> None:
        cache.set(f"k{i}", answer)
        cache.get(f"k{i}")

    out["cache set + get (diskcache)"] = _cpu_per_item(cache_set_get, n)
    cache.close()
    with ResultWriter(work / "breakdown.jsonl") as writer:
        out["output line (to_dict + JSON + write)"] = _cpu_per_item(
            lambda i: writer.write(
                Result(doc_id=f"b{i}", source="<bench>", record=records[i], usage=Usage(1, 1, 1))
            ),
            n,
        )

    tool: dict[str, Any] = {
        "type": "function",
        "function": {
            "name": schema.__name__,
            "description": schema.__doc__ or "",
            "parameters": schema.model_json_schema(),
        },
    }
    tool_choice: dict[str, Any] = {"type": "function", "function": {"name": schema.__name__}}

    async def calls() -> dict[str, float]:
        timings: dict[str, float] = {}
        async with httpx.AsyncClient(base_url=url) as http:
            start = time.process_time()
            for i in range(n):
                raw_body = {
                    "model": MODEL,
                    "messages": rendered[i],
                    "tools": [tool],
                    "tool_choice": tool_choice,
                }
                resp = await http.post("/chat/completions", json=raw_body)
                data = resp.json()
                json.loads(data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
            timings["raw HTTP (httpx + JSON)"] = (time.process_time() - start) / n * 1000
        # the SDK as it comes (httpx, typed parameters), then as llmx calls it: the aiohttp
        # transport and the request body as extra_body (EndpointClient._send)
        for label, http_client, typed in (
            ("openai SDK call, SDK defaults (httpx, typed parameters)", None, True),
            ("openai SDK call", openai.DefaultAioHttpClient(), False),
        ):
            sdk = openai.AsyncOpenAI(
                base_url=url, api_key="bench", max_retries=0, http_client=http_client
            )
            start = time.process_time()
            for i in range(n):
                body: dict[str, Any] = {
                    "messages": rendered[i],
                    "tools": [tool],
                    "tool_choice": tool_choice,
                }
                if typed:
                    await sdk.chat.completions.create(model=MODEL, **body)
                else:
                    await sdk.chat.completions.create(model=MODEL, messages=[], extra_body=body)
            timings[label] = (time.process_time() - start) / n * 1000
            await sdk.close()
        settings = Settings(base_url=url, api_key="bench", model=MODEL, mode="tools")
        client = EndpointClient(Endpoint.from_settings(settings), settings)
        start = time.process_time()
        for i in range(n):
            ctx = DocumentContext(text=cleaned[i].text, published=None)
            await client.extract(rendered[i], schema, context={"llmx": ctx})
        timings["endpoint client (SDK + instructor + validation)"] = (
            (time.process_time() - start) / n * 1000
        )
        await client.aclose()
        return timings

    out.update(asyncio.run(calls()))
    return {k: round(v, 3) for k, v in out.items()}
