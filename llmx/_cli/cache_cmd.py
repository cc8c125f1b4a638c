"""``llmx cache stats|clear``."""

from __future__ import annotations

import json

import typer

from llmx._cache import ResponseCache
from llmx._cli.common import ConfigOpt, build_settings

app = typer.Typer(no_args_is_help=True)


def _cache(config: ConfigOpt) -> ResponseCache:
    return ResponseCache(build_settings(config).resolved_cache_dir)


@app.command("stats")
def stats(config: ConfigOpt = None, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show where the cache lives, how many answers it holds and its size."""
    info = _cache(config).stats()
    if as_json:
        typer.echo(json.dumps(info))
        return
    typer.echo(f"directory: {info['directory']}")
    typer.echo(f"entries:   {info['entries']}")
    typer.echo(f"size:      {info['bytes'] / 1e6:.2f} MB")


@app.command("clear")
def clear(
    config: ConfigOpt = None,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete every cached answer."""
    cache = _cache(config)
    if not yes and not typer.confirm(f"Delete all cached answers in {cache.directory}?"):
        raise typer.Exit(1)
    typer.echo(f"removed {cache.clear()} entries")
