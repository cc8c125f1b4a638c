"""llmx: LLM-prompted structured extraction with Pydantic schemas.

The public surface::

    llmx.extract(text, schema, ...)        one document, synchronous
    llmx.aextract(text, schema, ...)       one document, asynchronous
    llmx.Extractor(schema, ...)            reuse one configured client and cache
    llmx.extract_batch(inputs, schema, out=...)   many documents into resumable JSONL
    llmx.aextract_batch(...)
    llmx.export_tables(out, to)            the output as SQLite / Parquet / CSV tables
    llmx.read_tables(out)                  the same tables as pandas DataFrames

plus the settings (:class:`Settings`, :func:`resolve_settings`), the result types,
the field markers for schema authors and the exception tree.
"""

import importlib
from typing import TYPE_CHECKING, Any

from llmx._config import Settings, SettingsChanges, resolve_settings
from llmx._errors import (
    BaselineRegression,
    CacheError,
    ClientEndpointError,
    ConfigError,
    EndpointError,
    EvalError,
    ExtractionError,
    InputError,
    LlmxError,
    LocalModelError,
    PromptError,
    SchemaError,
    TransientEndpointError,
    TruncatedAnswerError,
)
from llmx._types import Document, GroundingInfo, Result, Usage
from llmx.fields import Compare, Evidence, MatchKey

if TYPE_CHECKING:
    from llmx._candidates import Candidate, CandidateReader
    from llmx._extractor import Extractor, aextract, extract
    from llmx._prompts import Prompt, load_prompt
    from llmx._runner import RunOutcome, aextract_batch, extract_batch
    from llmx._schemas import load_schema
    from llmx._tables import export_tables, read_tables

# the extraction stack (openai, instructor, OpenCC, ...) is imported on first use,
# so that `llmx --help` and `import llmx._errors` stay fast
_LAZY = {
    "Candidate": "llmx._candidates",
    "CandidateReader": "llmx._candidates",
    "Extractor": "llmx._extractor",
    "aextract": "llmx._extractor",
    "extract": "llmx._extractor",
    "Prompt": "llmx._prompts",
    "load_prompt": "llmx._prompts",
    "RunOutcome": "llmx._runner",
    "aextract_batch": "llmx._runner",
    "extract_batch": "llmx._runner",
    "load_schema": "llmx._schemas",
    "export_tables": "llmx._tables",
    "read_tables": "llmx._tables",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "BaselineRegression",
    "CacheError",
    "Candidate",
    "CandidateReader",
    "ClientEndpointError",
    "Compare",
    "ConfigError",
    "Document",
    "EndpointError",
    "EvalError",
    "Evidence",
    "ExtractionError",
    "Extractor",
    "GroundingInfo",
    "InputError",
    "LlmxError",
    "LocalModelError",
    "MatchKey",
    "Prompt",
    "PromptError",
    "Result",
    "RunOutcome",
    "SchemaError",
    "Settings",
    "SettingsChanges",
    "TransientEndpointError",
    "TruncatedAnswerError",
    "Usage",
    "__version__",
    "aextract",
    "aextract_batch",
    "export_tables",
    "extract",
    "extract_batch",
    "load_prompt",
    "load_schema",
    "read_tables",
    "resolve_settings",
]
