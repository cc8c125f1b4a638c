"""Settings, resolved in one place.

Precedence, highest first: explicit arguments (Python keyword arguments or CLI
flags), then the config file, then the environment (``LLMX_*``, with
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` as fallbacks), then defaults.

The config file is TOML: ``--config PATH``, else ``$LLMX_CONFIG``, else
``./llmx.toml``, else ``$XDG_CONFIG_HOME/llmx/config.toml``. Its keys are the
field names of :class:`Settings`, at top level or under ``[llmx]``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict, Unpack

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from llmx._errors import ConfigError

UngroundedPolicy = Literal["keep", "flag", "drop"]
HttpClient = Literal["aiohttp", "httpx"]
#: how a document is put to the model: ``candidates`` (the schema's candidate reader:
#: code finds the places that may hold a record, the model answers about each),
#: ``chunks`` (small windows of sentences, each asked for the whole schema),
#: ``document`` (the whole text at once, split only when longer than ``chunk_chars``);
#: ``auto`` is ``candidates`` for a schema with a reader, else ``chunks``
Strategy = Literal["auto", "candidates", "chunks", "document"]
#: a path with ``~`` expanded, from Python, a config file or the environment alike
UserPath = Annotated[Path, AfterValidator(Path.expanduser)]
#: how a config file or environment variable sets a field to None (TOML has no null)
NONE_WORDS = frozenset({"none", "null"})

#: seconds per request to an endpoint when none is configured
DEFAULT_TIMEOUT_S = 120.0


def _xdg(var: str, fallback: str, env: Mapping[str, str]) -> Path:
    """An XDG base directory; a relative one is ignored, as the XDG spec asks."""
    base = env.get(var)
    return Path(base) if base and Path(base).is_absolute() else Path.home() / fallback


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$LLMX_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmx``, else ``~/.cache/llmx``."""
    env = os.environ if env is None else env
    if env.get("LLMX_CACHE_DIR"):
        return Path(env["LLMX_CACHE_DIR"]).expanduser()
    return _xdg("XDG_CACHE_HOME", ".cache", env) / "llmx"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$LLMX_DATA_DIR``, else ``$XDG_DATA_HOME/llmx``, else ``~/.local/share/llmx``:
    where the assembled local model and the local server's state live."""
    env = os.environ if env is None else env
    if env.get("LLMX_DATA_DIR"):
        return Path(env["LLMX_DATA_DIR"]).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share", env) / "llmx"


class Settings(BaseModel):
    """Everything that shapes a run: one typed, frozen model.

    Values are converted by their declared types (pydantic), whether they come from
    Python, a config file or the environment, and an invalid one is a
    :class:`~llmx.ConfigError` naming the field. Derive variants with :meth:`replace`,
    which can also set a field back to ``None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    model: str | None = None
    profile: str | None = None
    mode: str | None = None
    temperature: float = 0.0
    max_tokens: int | None = 2048
    seed: int | None = None
    #: seconds per request; None means 120 for endpoints, 1800 for the local model
    timeout: Annotated[float, Field(gt=0)] | None = None
    max_retries: Annotated[int, Field(ge=0)] = 5
    max_reasks: Annotated[int, Field(ge=0)] = 2
    #: requests one call for one answer may send in all: transient-failure retries,
    #: re-asks after invalid answers and the retry of a cut-off answer draw on this one
    #: budget; None means ``1 + max_retries + max_reasks``
    max_requests_per_call: Annotated[int, Field(ge=1)] | None = None
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    cache: bool = True
    refresh: bool = False
    cache_dir: UserPath | None = None
    data_dir: UserPath | None = None
    replay: UserPath | None = None
    record: UserPath | None = None
    concurrency: Annotated[int, Field(ge=1)] = 4
    rpm: float | None = None
    tpm: float | None = None
    chunk_chars: int | None = None
    chunk_overlap: int = 200
    strategy: Strategy = "auto"
    #: candidates asked about in one request (``candidates`` strategy)
    group_size: Annotated[int, Field(ge=1)] = 4
    #: characters per window (``chunks`` strategy, and schemas without a reader)
    window_chars: Annotated[int, Field(ge=1)] = 1000
    #: ask each group this many times (the later passes warmer) and record per record
    #: the share of passes that agreed with it as its confidence
    passes: Annotated[int, Field(ge=1)] = 1
    ungrounded: UngroundedPolicy = "flag"
    local_model: UserPath | None = None
    local_ctx: int | None = None
    prices: UserPath | None = None
    #: the openai SDK's HTTP transport: aiohttp (less CPU per request) or httpx
    http_client: HttpClient = "aiohttp"
    #: a batch run stops early once this many documents in a row failed with the same
    #: endpoint error (a down or misconfigured endpoint); 0 never stops
    stop_after_failures: Annotated[int, Field(ge=0)] = 3

    if not TYPE_CHECKING:
        # type checkers see the typed constructor pydantic declares; at run time an
        # invalid value is a ConfigError like every other settings problem

        def __init__(self, **values: Any) -> None:
            try:
                super().__init__(**values)
            except ValidationError as exc:
                raise _config_error(exc) from None

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

    def replace(self, **changes: Unpack[SettingsChanges]) -> Settings:
        """A copy with ``changes`` applied (``None`` included: it resets a field)."""
        return Settings(**{**self.values(), **changes})

    def values(self) -> dict[str, Any]:
        """Every field by name (the API key included)."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def describe(self) -> dict[str, Any]:
        """A loggable view: the API key is reduced to whether it is set."""
        out = self.values()
        out["api_key"] = "set" if self.api_key else None
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


class SettingsChanges(TypedDict, total=False):
    """The :class:`Settings` fields as keyword arguments (``extract(..., model="x")``):
    a misspelt or mistyped one fails type checking. A key that is present applies, even
    when its value is ``None``; leave a key out to keep the configured value."""

    base_url: str | None
    api_key: str | None
    model: str | None
    profile: str | None
    mode: str | None
    temperature: float
    max_tokens: int | None
    seed: int | None
    timeout: float | None
    max_retries: int
    max_reasks: int
    max_requests_per_call: int | None
    backoff_initial: float
    backoff_max: float
    cache: bool
    refresh: bool
    cache_dir: Path | None
    data_dir: Path | None
    replay: Path | None
    record: Path | None
    concurrency: int
    rpm: float | None
    tpm: float | None
    chunk_chars: int | None
    chunk_overlap: int
    strategy: Strategy
    group_size: int
    window_chars: int
    passes: int
    ungrounded: UngroundedPolicy
    local_model: Path | None
    local_ctx: int | None
    prices: Path | None
    http_client: HttpClient
    stop_after_failures: int


_FIELDS = Settings.model_fields
_ENV_FALLBACKS = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY"}


def _config_error(exc: ValidationError) -> ConfigError:
    """The first problem pydantic found, as a ConfigError naming the field."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "settings"
    if error["type"] == "extra_forbidden":
        return ConfigError(f"unknown setting: {name}")
    return ConfigError(
        f"invalid value for {name}: {error['msg']}",
        setting=name,
        value=repr(error.get("input")),
    )


def _from_text(value: Any) -> Any:
    """A config-file or environment value as pydantic should see it: the words ``none`` and
    ``null`` mean None (TOML has no null); everything else is converted by the field's type."""
    if isinstance(value, str) and value.strip().lower() in NONE_WORDS:
        return None
    return value


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
    return {k: _from_text(v) for k, v in table.items()}


def _env_values(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The ``LLMX_*`` variables (and the OpenAI fallbacks) that are set and not empty:
    each setting's raw text and the variable it came from."""
    out: dict[str, tuple[str, str]] = {}
    for name in _FIELDS:
        var = f"LLMX_{name.upper()}"
        raw = env.get(var)
        if raw is None and name in _ENV_FALLBACKS:
            var = _ENV_FALLBACKS[name]
            raw = env.get(var)
        if raw not in (None, ""):
            out[name] = (raw, var)
    return out


def resolve_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from explicit overrides, the config file and the environment.

    Every key present in ``overrides`` applies, ``None`` included (it resets the field);
    leave a key out to fall through to the config file, the environment and the default.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, (raw, var) in _env_values(env).items():
        values[name], origins[name] = _from_text(raw), var
    path = find_config_file(config_file, env)
    if path is not None:
        for name, value in read_config_file(path).items():
            values[name], origins[name] = value, str(path)
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown setting: {key}")
        values[key] = value
        origins.pop(key, None)
    if "cache_dir" not in values:
        values["cache_dir"] = default_cache_dir(env)
    if "data_dir" not in values:
        values["data_dir"] = default_data_dir(env)
    try:
        return Settings(**values)
    except ConfigError as exc:
        # say where the bad value came from (a config file, a variable); explicit
        # arguments have no origin to name
        origin = origins.get(exc.context.get("setting", ""))
        if origin is not None:
            exc.context["origin"] = origin
        raise
