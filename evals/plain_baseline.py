"""The "before" baseline: what a new user gets from the bundled model with a plain call.

No cleaning, no normalisers, no grounding, no merging: the raw scraped text, a short
generic instruction, the schema's JSON schema in the prompt and as the decoding
grammar (``response_format={"type": "json_object", "schema": ...}``, the shape the
llama-cpp-python server accepts), and the model's JSON taken as it is. Its output is
an ``llmx run``-style JSONL that ``llmx eval --predictions`` scores, so the same
scorer measures the pipeline's effect:

    python evals/plain_baseline.py evals/investment --out /tmp/plain.jsonl
    llmx eval --fixtures evals/investment --schema investment --predictions /tmp/plain.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import openai

from llmx._endpoints.profiles import grammar_schema
from llmx._local import LocalServer, ensure_model
from llmx._schemas import load_schema
from llmx._text.decode import decode

INSTRUCTION = (
    "Extract the investment projects and the reported statistics from this Chinese news "
    "article. Answer with one JSON object matching this JSON schema:\n{schema}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixtures", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--schema", default="investment")
    args = parser.parse_args()

    schema = grammar_schema(load_schema(args.schema))
    system = INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    paths = sorted(p for p in args.fixtures.glob("*.txt") if not p.name.startswith("README"))
    with LocalServer(ensure_model(), n_ctx=12288) as server, args.out.open("w") as out:
        client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0)
        for path in paths:
            started = time.monotonic()
            line: dict[str, object] = {"doc_id": path.stem, "source": str(path)}
            try:
                # response_format's "schema" is llama.cpp's extension, not in the SDK's types
                response = client.chat.completions.create(  # type: ignore[call-overload]
                    model="local",
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": decode(path.read_bytes()).text},
                    ],
                    temperature=0,
                    max_tokens=2048,
                    response_format={"type": "json_object", "schema": schema},
                    timeout=900,
                )
                line["record"] = json.loads(response.choices[0].message.content or "{}")
                line["error"] = None
                usage = response.usage
                line["usage"] = usage.model_dump() if usage else {}
            except (openai.OpenAIError, json.JSONDecodeError) as exc:
                line.update(record=None, error={"kind": "error", "message": str(exc)})
            line["seconds"] = round(time.monotonic() - started, 1)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
            print(path.stem, line["seconds"], "s", flush=True)


if __name__ == "__main__":
    main()
