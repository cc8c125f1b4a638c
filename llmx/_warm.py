"""Process-wide caches built at import: imported by each Ray actor as it starts.

An actor of :mod:`llmx._engines.ray` imports this module while it starts, so the
gazetteer and its name scanner, the OpenCC converters and the bundled schemas and
prompts (with the per-schema work for instructor) are built before its first documents
arrive instead of while they wait.
"""

from __future__ import annotations

from llmx._endpoints._instructor import fast_response_model
from llmx._prompts import available_prompts, load_prompt
from llmx._schemas import available_schemas, load_schema
from llmx._text.clean import clean_text
from llmx.normalize._places import home_region

clean_text("招商引資項目")  # OpenCC's converters
home_region("浙江省湖州市")  # the gazetteer and its name scanner
for _name in available_schemas():
    fast_response_model(load_schema(_name))
for _name in available_prompts():  # a schema's own prompt is one of these
    load_prompt(_name)
