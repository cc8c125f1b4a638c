"""Settings, resolved in one place.

Precedence, highest first: explicit arguments (Python keyword arguments or CLI
flags), then the config file, then the environment (``LLMX_*``, with
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` as fallbacks), then defaults.

The config file is TOML: ``--config PATH``, else ``$LLMX_CONFIG``, else
``./llmx.toml``, else ``$XDG_CONFIG_HOME/llmx/config.toml``. Its keys are the
field names of :class:`Settings`, at top level or under ``[llmx]``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from llmx._errors import ConfigError

UngroundedPolicy = Literal["keep", "flag", "drop"]
HttpClient = Literal["aiohttp", "httpx"]
#: how a document is put to the model: ``candidates`` (the schema's candidate reader:
#: code finds the places that may hold a record, the model answers about each),
#: ``chunks`` (small windows of sentences, each asked for the whole schema),
#: ``document`` (the whole text at once, split only when longer than ``chunk_chars``);
#: ``auto`` is ``candidates`` for a schema with a reader, else ``chunks``
Strategy = Literal["auto", "candidates", "chunks", "document"]

#: seconds per request to an endpoint when none is configured
DEFAULT_TIMEOUT_S = 120.0


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var)
    return Path(base) if base else Path.home() / fallback


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("LLMX_CACHE_DIR"):
        return Path(env["LLMX_CACHE_DIR"])
    return _xdg("XDG_CACHE_HOME", ".cache") / "llmx"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("LLMX_DATA_DIR"):
        return Path(env["LLMX_DATA_DIR"])
    return _xdg("XDG_DATA_HOME", ".local/share") / "llmx"


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run. Frozen: derive variants with :meth:`replace`."""

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    profile: str | None = None
    mode: str | None = None
    temperature: float = 0.0
    max_tokens: int | None = 2048
    seed: int | None = None
    #: seconds per request; None means 120 for endpoints, 1800 for the local model
    timeout: float | None = None
    max_retries: int = 5
    max_reasks: int = 2
    #: requests one call for one answer may send in all: transient-failure retries,
    #: re-asks after invalid answers and the retry of a cut-off answer draw on this one
    #: budget; None means ``1 + max_retries + max_reasks``
    max_requests_per_call: int | None = None
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    cache: bool = True
    refresh: bool = False
    cache_dir: Path | None = None
    data_dir: Path | None = None
    replay: Path | None = None
    record: Path | None = None
    concurrency: int = 4
    rpm: float | None = None
    tpm: float | None = None
    chunk_chars: int | None = None
    chunk_overlap: int = 200
    strategy: Strategy = "auto"
    #: candidates asked about in one request (``candidates`` strategy)
    group_size: int = 4
    #: characters per window (``chunks`` strategy, and schemas without a reader)
    window_chars: int = 1000
    #: ask each group this many times (the later passes warmer) and record per record
    #: the share of passes that agreed with it as its confidence
    passes: int = 1
    ungrounded: UngroundedPolicy = "flag"
    local_model: Path | None = None
    local_ctx: int | None = None
    prices: Path | None = None
    #: the openai SDK's HTTP transport: aiohttp (less CPU per request) or httpx
    http_client: HttpClient = "aiohttp"
    #: a batch run stops early once this many documents in a row failed with the same
    #: endpoint error (a down or misconfigured endpoint); 0 never stops
    stop_after_failures: int = 3

    def __post_init__(self) -> None:
        if self.ungrounded not in get_args(UngroundedPolicy):
            raise ConfigError("ungrounded must be keep, flag or drop", value=str(self.ungrounded))
        if self.http_client not in get_args(HttpClient):
            raise ConfigError("http_client must be aiohttp or httpx", value=str(self.http_client))
        for name in ("max_retries", "max_reasks", "stop_after_failures"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0", value=getattr(self, name))
        if self.strategy not in get_args(Strategy):
            raise ConfigError(
                "strategy must be auto, candidates, chunks or document", value=str(self.strategy)
            )
        for name in ("group_size", "window_chars", "passes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1", value=getattr(self, name))
        if self.concurrency < 1:
            raise ConfigError("concurrency must be >= 1", value=self.concurrency)
        if self.max_requests_per_call is not None and self.max_requests_per_call < 1:
            raise ConfigError(
                "max_requests_per_call must be >= 1", value=self.max_requests_per_call
            )
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError("timeout must be > 0", value=self.timeout)

    @property
    def request_timeout(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUT_S

    @property
    def request_budget(self) -> int:
        """Requests one call may send in all (:attr:`max_requests_per_call`)."""
        if self.max_requests_per_call is not None:
            return self.max_requests_per_call
        return 1 + self.max_retries + self.max_reasks

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or default_cache_dir()

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir()

    @property
    def uses_local_model(self) -> bool:
        """True when no endpoint is configured: llmx serves the bundled model itself."""
        return self.base_url is None and self.api_key is None

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def describe(self) -> dict[str, Any]:
        """A loggable view: the API key is reduced to whether it is set."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}
        out["api_key"] = "set" if self.api_key else None
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


_FIELDS = {f.name: f for f in fields(Settings)}
_ENV_FALLBACKS = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY"}


def _convert(name: str, value: Any, origin: str) -> Any:
    """Coerce a config-file or environment value to the type of field ``name``."""
    kind = str(_FIELDS[name].type)
    try:
        if value is None:
            return None
        if "bool" in kind:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if "Path" in kind:
            return Path(str(value)).expanduser()
        if "float" in kind:
            return float(value)
        if "int" in kind:
            return int(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {name}", value=repr(value), origin=origin) from exc


def find_config_file(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError("config file not found", path=str(explicit))
        return explicit
    if env.get("LLMX_CONFIG"):
        path = Path(env["LLMX_CONFIG"])
        if not path.is_file():
            raise ConfigError("config file named by LLMX_CONFIG not found", path=str(path))
        return path
    local = Path("llmx.toml")
    if local.is_file():
        return local
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    user = xdg / "llmx" / "config.toml"
    return user if user.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", path=str(path)) from exc
    table = data.get("llmx", data)
    if not isinstance(table, dict):
        raise ConfigError("config file must be a TOML table", path=str(path))
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(unknown)}", path=str(path))
    return {k: _convert(k, v, str(path)) for k, v in table.items()}


def read_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELDS:
        raw = env.get(f"LLMX_{name.upper()}")
        if raw is None and name in _ENV_FALLBACKS:
            raw = env.get(_ENV_FALLBACKS[name])
        if raw not in (None, ""):
            out[name] = _convert(name, raw, f"LLMX_{name.upper()}")
    return out


def resolve_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from explicit overrides, the config file and the environment.

    ``None`` values in ``overrides`` mean "not given" and fall through.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = read_env(env)
    path = find_config_file(config_file, env)
    if path is not None:
        values.update(read_config_file(path))
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown setting: {key}")
        if value is not None:
            values[key] = value
    if "cache_dir" not in values:
        values["cache_dir"] = default_cache_dir(env)
    if "data_dir" not in values:
        values["data_dir"] = default_data_dir(env)
    return Settings(**values)
