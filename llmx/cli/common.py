"""Options shared by several commands, and turning them into Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from llmx.config import Settings, resolve_settings
from llmx.errors import LlmxError

err_console = Console(stderr=True)

SchemaOpt = Annotated[
    str,
    typer.Option("--schema", "-s", help="Schema name (investment), path.py:Class or module:Class."),
]
PromptOpt = Annotated[
    str | None,
    typer.Option("--prompt", "-p", help="Prompt name or .j2 path (default: the schema's)."),
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name.")]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="OpenAI-compatible endpoint. Without one (and no API key) llmx runs the "
        "bundled local model.",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(help="Endpoint profile: openai, deepseek, llama_cpp, vllm, ollama, generic."),
]
ModeOpt = Annotated[
    str | None,
    typer.Option(
        help="Structured-output mode: tools, json_schema, json_object_schema, json, md_json."
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Config file (TOML).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]
RefreshOpt = Annotated[
    bool, typer.Option("--refresh", help="Ignore cached answers and store fresh ones.")
]
ConcurrencyOpt = Annotated[
    int | None, typer.Option("--concurrency", "-c", help="Documents in flight at once.")
]
ReplayOpt = Annotated[
    Path | None,
    typer.Option(help="Replay answers from a recording (JSONL); unknown requests go live."),
]
RecordOpt = Annotated[
    Path | None, typer.Option(help="Append every answer used to a recording (JSONL).")
]


def build_settings(config: Path | None, **flags: Any) -> Settings:
    """Resolve settings from CLI flags (``None`` = not given), config file and env."""
    if flags.pop("no_cache", False):
        flags["cache"] = False
    if not flags.get("refresh"):
        flags.pop("refresh", None)
    return resolve_settings(flags, config_file=config)


def fail(exc: LlmxError, code: int = 2) -> typer.Exit:
    """Print an llmx error the way a user wants to read it and return an Exit."""
    # messages and context carry paths and user input: printed as text, never as markup
    err_console.print(f"[bold red]error:[/] {escape(exc.message)}")
    for key, value in exc.context.items():
        err_console.print(f"  {escape(str(key))}: {escape(str(value))}")
    return typer.Exit(code)
