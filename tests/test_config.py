"""Settings resolution: explicit > config file > environment > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmx._config import Settings, resolve_settings
from llmx._errors import ConfigError


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "llmx.toml"
    config.write_text('model = "from-file"\ntimeout = 7\n', encoding="utf-8")
    env = {"LLMX_MODEL": "from-env", "LLMX_TIMEOUT": "3", "LLMX_CONCURRENCY": "9"}
    s = resolve_settings({"model": "explicit"}, config_file=config, env=env)
    assert s.model == "explicit"
    assert s.timeout == 7.0
    assert s.concurrency == 9
    s = resolve_settings({"model": None}, config_file=config, env=env)
    assert s.model == "from-file"


def test_openai_fallbacks_and_llmx_wins() -> None:
    env = {"OPENAI_API_KEY": "sk-openai", "OPENAI_BASE_URL": "http://a/v1"}
    s = resolve_settings(env=env)
    assert (s.api_key, s.base_url) == ("sk-openai", "http://a/v1")
    s = resolve_settings(env={**env, "LLMX_BASE_URL": "http://b/v1"})
    assert s.base_url == "http://b/v1"
    assert not s.uses_local_model
    assert resolve_settings(env={}).uses_local_model


def test_config_file_found_via_env_and_xdg(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "llmx").mkdir(parents=True)
    (xdg / "llmx" / "config.toml").write_text('[llmx]\nmodel = "xdg"\n', encoding="utf-8")
    assert resolve_settings(env={"XDG_CONFIG_HOME": str(xdg)}).model == "xdg"
    named = tmp_path / "named.toml"
    named.write_text('model = "named"\n', encoding="utf-8")
    env = {"XDG_CONFIG_HOME": str(xdg), "LLMX_CONFIG": str(named)}
    assert resolve_settings(env=env).model == "named"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('modle = "typo"\n', "unknown settings: modle"),
        ("timeout = 'soon'\n", "invalid value for timeout"),
        ("this is not toml", "cannot read config file"),
        ('ungrounded = "maybe"\n', "ungrounded must be"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        resolve_settings(config_file=path, env={})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve_settings(config_file=tmp_path / "nope.toml", env={})


def test_settings_are_frozen_and_hide_the_key() -> None:
    s = Settings(api_key="sk-very-secret", model="m")
    with pytest.raises(AttributeError):
        s.model = "other"  # type: ignore[misc]
    assert "sk-very-secret" not in repr(s)
    assert s.describe()["api_key"] == "set"
    assert s.replace(model="n", timeout=None).model == "n"


def test_bool_and_path_from_env(tmp_path: Path) -> None:
    s = resolve_settings(env={"LLMX_CACHE": "off", "LLMX_CACHE_DIR": str(tmp_path)})
    assert s.cache is False and s.resolved_cache_dir == tmp_path
    with pytest.raises(ConfigError):
        resolve_settings(env={"LLMX_CACHE": "sometimes"})


def test_timeout_default_depends_on_the_endpoint() -> None:
    assert Settings().timeout is None
    assert Settings().request_timeout == 120.0
    assert Settings(timeout=7).request_timeout == 7.0
    with pytest.raises(ConfigError, match="timeout"):
        Settings(timeout=0)


def test_http_client_choice() -> None:
    assert Settings().http_client == "aiohttp"
    assert resolve_settings(env={"LLMX_HTTP_CLIENT": "httpx"}).http_client == "httpx"
    with pytest.raises(ConfigError, match="http_client must be aiohttp or httpx"):
        resolve_settings(env={"LLMX_HTTP_CLIENT": "requests"})
