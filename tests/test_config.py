"""Settings resolution: explicit > config file > environment > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmx._config import Settings, SettingsChanges, resolve_settings
from llmx._errors import ConfigError


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "llmx.toml"
    config.write_text('model = "from-file"\ntimeout = 7\n', encoding="utf-8")
    env = {"LLMX_MODEL": "from-env", "LLMX_TIMEOUT": "3", "LLMX_CONCURRENCY": "9"}
    s = resolve_settings({"model": "explicit"}, config_file=config, env=env)
    assert s.model == "explicit"
    assert s.timeout == 7.0
    assert s.concurrency == 9
    # a key that is present applies, None included; a key left out falls through
    assert resolve_settings({"model": None}, config_file=config, env=env).model is None
    assert resolve_settings({}, config_file=config, env=env).model == "from-file"


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
        ('ungrounded = "maybe"\n', "invalid value for ungrounded: Input should be 'keep'"),
        ("concurrency = 0\n", "invalid value for concurrency: .*greater than or equal to 1"),
        ('max_retries = "none"\n', "invalid value for max_retries"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_settings(config_file=path, env={})
    if message.startswith("invalid value"):
        assert caught.value.context["origin"] == str(path)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve_settings(config_file=tmp_path / "nope.toml", env={})


def test_settings_are_frozen_and_hide_the_key() -> None:
    s = Settings(api_key="sk-very-secret", model="m", timeout=5)
    with pytest.raises(ValidationError, match="frozen"):
        s.model = "other"  # type: ignore[misc]
    assert "sk-very-secret" not in repr(s)
    assert s.describe()["api_key"] == "set"
    changed = s.replace(model="n", timeout=None)
    assert (changed.model, changed.timeout, changed.api_key) == ("n", None, "sk-very-secret")
    assert s.timeout == 5.0


def test_bool_and_path_from_env(tmp_path: Path) -> None:
    s = resolve_settings(env={"LLMX_CACHE": "off", "LLMX_CACHE_DIR": str(tmp_path)})
    assert s.cache is False and s.resolved_cache_dir == tmp_path
    with pytest.raises(ConfigError):
        resolve_settings(env={"LLMX_CACHE": "sometimes"})


def test_timeout_default_depends_on_the_endpoint() -> None:
    assert Settings().timeout is None
    assert Settings().request_timeout == 120.0
    assert Settings(timeout=7).request_timeout == 7.0
    with pytest.raises(ConfigError, match=r"invalid value for timeout: .*greater than 0"):
        Settings(timeout=0)


def test_http_client_choice() -> None:
    assert Settings().http_client == "aiohttp"
    assert resolve_settings(env={"LLMX_HTTP_CLIENT": "httpx"}).http_client == "httpx"
    with pytest.raises(ConfigError, match="invalid value for http_client") as caught:
        resolve_settings(env={"LLMX_HTTP_CLIENT": "requests"})
    assert caught.value.context["origin"] == "LLMX_HTTP_CLIENT"


def test_values_are_converted_by_their_types_not_their_names(tmp_path: Path) -> None:
    # every field from text, as the environment gives it
    env = {
        "LLMX_TEMPERATURE": "0.5",
        "LLMX_MAX_TOKENS": "512",
        "LLMX_SEED": "7",
        "LLMX_RPM": "90",
        "LLMX_REFRESH": "yes",
        "LLMX_STRATEGY": "chunks",
        "LLMX_LOCAL_MODEL": "~/models/m.gguf",
    }
    s = resolve_settings(env=env)
    assert (s.temperature, s.max_tokens, s.seed, s.rpm) == (0.5, 512, 7, 90.0)
    assert isinstance(s.max_tokens, int) and isinstance(s.rpm, float)
    assert s.refresh is True and s.strategy == "chunks"
    assert s.local_model == Path.home() / "models" / "m.gguf"
    # ~ is expanded whichever way a path arrives
    assert Settings(prices=Path("~/p.toml")).prices == Path.home() / "p.toml"
    with pytest.raises(ConfigError, match="invalid value for seed") as caught:
        resolve_settings(env={"LLMX_SEED": "1.5"})
    assert caught.value.context["origin"] == "LLMX_SEED"


def test_a_field_can_be_reset_to_none_from_every_source(tmp_path: Path) -> None:
    assert Settings().max_tokens == 2048
    assert resolve_settings(env={"LLMX_MAX_TOKENS": "none"}).max_tokens is None
    config = tmp_path / "llmx.toml"
    config.write_text('max_tokens = "null"\n', encoding="utf-8")
    assert resolve_settings(config_file=config, env={}).max_tokens is None
    assert resolve_settings({"max_tokens": None}, env={}).max_tokens is None
    assert Settings().replace(max_tokens=None).max_tokens is None


def test_settings_changes_lists_every_field_with_its_type() -> None:
    import typing

    hints = typing.get_type_hints(SettingsChanges)
    # the model's types without their constraints (Annotated metadata)
    declared = typing.get_type_hints(Settings)
    assert set(hints) == set(Settings.model_fields)
    for name in Settings.model_fields:
        assert hints[name] == declared[name], name


def test_unknown_setting_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting: modle"):
        resolve_settings({"modle": "x"}, env={})
    with pytest.raises(ConfigError, match="unknown setting: modle"):
        Settings(modle="x")  # type: ignore[call-arg]
