"""Options shared by several commands, and turning them into Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypedDict, Unpack

import typer
from rich.console import Console
from rich.markup import escape

from llmx._config import Settings, resolve_settings
from llmx._errors import LlmxError, SchemaError

err_console = Console(stderr=True)

SchemaOpt = Annotated[
    str | None,
    typer.Option(
        "--schema",
        "-s",
        help="Schema to extract (required): a bundled schema's name, path.py:Class or "
        "module:Class.",
        show_default=False,
    ),
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
StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        help="candidates (the schema's reader: code finds candidates, the model reads each), "
        "chunks (small windows), document (the whole text), or auto (candidates when the "
        "schema has a reader, else chunks).",
    ),
]
GroupSizeOpt = Annotated[
    int | None, typer.Option("--group-size", help="Candidates asked about per request.")
]
PassesOpt = Annotated[
    int | None,
    typer.Option(
        "--passes",
        help="Ask each group of candidates N times (later passes warmer); each record's "
        "share of agreeing passes is written as its confidence.",
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


def required_schema(schema: str | None) -> str:
    """The ``--schema`` of a command that extracts: llmx has no default schema, so a
    missing one is a usage error that names the bundled schemas and the other forms."""
    if schema:
        return schema
    from llmx._schemas import available_schemas

    raise SchemaError(
        "--schema is required: the name of a bundled schema, path.py:Class or module:Class",
        bundled=", ".join(available_schemas()) or "none",
    )


class SettingFlags(TypedDict, total=False):
    """The options of a command that set a :class:`Settings` field (``None``: the option
    was not given, so the config file, the environment or the default decides)."""

    model: str | None
    base_url: str | None
    profile: str | None
    mode: str | None
    concurrency: int | None
    strategy: str | None
    group_size: int | None
    passes: int | None
    #: ``--no-cache``: ``cache = False``
    no_cache: bool
    #: ``--refresh`` (only when given)
    refresh: bool
    ungrounded: str | None
    rpm: float | None
    tpm: float | None
    max_tokens: int | None
    timeout: float | None
    replay: Path | None
    record: Path | None


def build_settings(config: Path | None, **flags: Unpack[SettingFlags]) -> Settings:
    """Resolve settings from CLI flags (``None`` = not given), config file and env."""
    given: dict[str, Any] = {
        name: value
        for name, value in flags.items()
        if value is not None and name not in ("no_cache", "refresh")
    }
    if flags.get("no_cache"):
        given["cache"] = False
    if flags.get("refresh"):
        given["refresh"] = True
    return resolve_settings(given, config_file=config)


def plain(value: object) -> str:
    """``value`` as text that rich prints as is: user text, paths and messages are never
    read as markup (``pip install 'llmx[local]'`` keeps its brackets)."""
    return escape(str(value))


def fail(exc: LlmxError, code: int = 2) -> typer.Exit:
    """Print an llmx error the way a user wants to read it and return an Exit."""
    print_error(exc, err_console)
    return typer.Exit(code)


def print_error(exc: LlmxError, console: Console) -> None:
    """An llmx error's message and context on ``console``, none of it read as markup."""
    console.print(f"[bold red]error:[/] {plain(exc.message)}", highlight=False)
    for key, value in exc.context.items():
        console.print(f"  {plain(key)}: {plain(value)}", highlight=False)
