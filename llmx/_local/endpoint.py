"""Turning "no endpoint configured" into a running local endpoint for one run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from llmx._endpoints.profiles import LLAMA_CPP
from llmx._local.detached import running_server
from llmx._local.launch import MODEL_ALIAS, context_size_for
from llmx._local.model import BUNDLED_MODEL, ENV_LOCAL_MODEL, check_gguf, ensure_model
from llmx._local.options import RECOMMENDED_MODE, recommended_request_options
from llmx._local.server import LocalServer

if TYPE_CHECKING:
    from llmx._config import Settings

#: tokens of system prompt + schema + instructions around a chunk (InvestmentNews'
#: schema alone is ~1300 tokens)
PROMPT_OVERHEAD_TOKENS = 2048
#: the OpenAI SDK insists on a key; the local server ignores it
LOCAL_API_KEY = "sk-local-no-key"
#: seconds per request unless the user set one: a long article's answer takes the
#: small model on two cores several minutes, and a retry after a client-side timeout
#: would only queue behind the abandoned request the server is still generating
LOCAL_TIMEOUT_S = 1800.0


def estimate_context(chunk_chars: int, max_output_tokens: int) -> int:
    """``n_ctx`` for chunks of ``chunk_chars`` characters.

    One token per character (an upper bound for Chinese with Qwen's tokenizer,
    generous for English), the prompt overhead, and one re-ask's worth of the
    previous answer on top of the answer itself.
    """
    prompt = chunk_chars + PROMPT_OVERHEAD_TOKENS + max_output_tokens
    return context_size_for(prompt, max_output_tokens)


def model_identity(model: Path) -> str:
    """A stable cache identity for a local model (ports change, the model does not)."""
    if model.name == BUNDLED_MODEL.filename:
        return f"llmx-local:{BUNDLED_MODEL.filename}:{BUNDLED_MODEL.sha256[:16]}"
    return f"llmx-local:{model.name}:{model.stat().st_size}"


def endpoint_for_local(
    settings: Settings, *, chunk_chars: int
) -> tuple[Settings, str, LocalServer | None]:
    """Settings pointing at a local server, the cache identity, and the server to stop.

    Reuses a healthy long-lived server (``llmx local start``) running the same
    model with a large enough context (then the third item is ``None``);
    otherwise starts an ephemeral :class:`LocalServer` that the caller must stop.
    """
    data_dir = settings.resolved_data_dir
    model = ensure_model(data_dir, model_path=settings.local_model)
    max_tokens = settings.max_tokens or recommended_request_options()["max_tokens"]
    n_ctx = settings.local_ctx or estimate_context(chunk_chars, int(max_tokens))
    identity = model_identity(model)
    mode = settings.mode or RECOMMENDED_MODE

    info = running_server(data_dir, min_n_ctx=n_ctx)
    server: LocalServer | None = None
    if info is None or Path(info.model).resolve() != model.resolve():
        server = LocalServer(model, n_ctx=n_ctx, data_dir=data_dir)
        info = server.start()
    local = settings.replace(
        base_url=info.base_url,
        api_key=LOCAL_API_KEY,
        model=info.model_alias,
        profile=LLAMA_CPP.name,
        mode=mode,
        timeout=settings.timeout or LOCAL_TIMEOUT_S,
    )
    return local, identity, server


def planned_local(settings: Settings) -> tuple[Settings, str]:
    """The settings and cache identity a run on the local model will use, found without
    assembling the model or starting a server: a replay whose answers are all in its
    recording needs no model (:func:`endpoint_for_local` starts one when a request must
    really be sent)."""
    explicit = settings.local_model or os.environ.get(ENV_LOCAL_MODEL) or None
    model = check_gguf(Path(explicit)) if explicit else Path(BUNDLED_MODEL.filename)
    local = settings.replace(
        api_key=LOCAL_API_KEY,
        model=MODEL_ALIAS,
        profile=LLAMA_CPP.name,
        mode=settings.mode or RECOMMENDED_MODE,
        timeout=settings.timeout or LOCAL_TIMEOUT_S,
    )
    return local, model_identity(model)
