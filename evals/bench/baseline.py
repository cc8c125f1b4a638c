"""The baseline: what a plain synchronous loop of ``instructor`` calls achieves against
the same fake server, with the same schema and messages (no llmx)."""

from __future__ import annotations

import time
from typing import Any

from evals.bench.corpus import MODEL, PUBLISHED, SCHEMA, text_for


def instructor_baseline(url: str, n: int) -> dict[str, Any]:
    """A plain synchronous loop of instructor TOOLS calls (no llmx)."""
    import instructor
    import openai

    from llmx._extractor import Extractor
    from llmx._schemas import load_schema

    schema = load_schema(SCHEMA)
    extractor = Extractor(schema, cache=False)
    sdk = openai.OpenAI(base_url=url, api_key="bench", max_retries=0)
    client = instructor.from_openai(sdk, mode=instructor.Mode.TOOLS)
    all_messages = [
        extractor.messages_for(text_for(20_000 + i), published=PUBLISHED, doc_id=f"i{i}")
        for i in range(n + 1)
    ]
    client.chat.completions.create(  # warm-up (connection, imports)
        model=MODEL,
        messages=all_messages[n],  # type: ignore[arg-type]
        response_model=schema,
        max_retries=0,
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        client.chat.completions.create(
            model=MODEL,
            messages=all_messages[i],  # type: ignore[arg-type]
            response_model=schema,
            max_retries=0,
        )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    sdk.close()
    return {
        "calls": n,
        "elapsed_s": round(wall, 3),
        "docs_per_s": round(n / wall, 1),
        "cpu_ms_per_call": round(cpu / n * 1000, 3),
    }
