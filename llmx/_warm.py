"""Process-wide caches built at import: imported by the worker processes' forkserver.

:mod:`llmx.workers` starts its worker processes from a forkserver that preloads this
module, so every worker inherits the gazetteer, its compiled name scanner and the OpenCC
converters instead of building them while its first documents wait.
"""

from __future__ import annotations

from llmx.normalize.places import home_region
from llmx.text.clean import clean_text

clean_text("招商引資項目")  # OpenCC's converters
home_region("浙江省湖州市")  # the gazetteer and its name scanner
