"""Token prices for cost estimates (USD per million tokens), overridable by the user."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_PRICES", "cost_usd", "load_prices"]

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-3-5-sonnet-latest": (3.00, 15.00),
    "replay": (0.50, 1.50),
    "local": (0.0, 0.0),
}
"""(input, output) list prices per million tokens as the providers published them in 2025.

Prices change: check yours and pass `--prices prices.json` (`{"model": [input, output]}`).
`replay` is priced as GPT-3.5 Turbo (the class it replays); `local` costs nothing.
"""


def load_prices(path: Path | None) -> dict[str, tuple[float, float]]:
    """The default table updated with a JSON file of `{"model": [input, output]}` entries.

    Raises:
        ValueError: The file is not such a mapping.
    """
    prices = dict(DEFAULT_PRICES)
    if path is None:
        return prices
    loaded = json.loads(path.read_text())
    if not isinstance(loaded, dict):
        msg = f"{path}: expected a JSON object of model -> [input, output] USD per million tokens"
        raise ValueError(msg)
    for model, pair in loaded.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, int | float) for p in pair)):
            msg = f"{path}: price of {model!r} must be [input, output] numbers, got {pair!r}"
            raise ValueError(msg)
        prices[str(model)] = (float(pair[0]), float(pair[1]))
    return prices


def cost_usd(
    model: str, input_tokens: int, output_tokens: int, prices: Mapping[str, tuple[float, float]]
) -> float | None:
    """Cost of the tokens at the model's price; None when the model has no price.

    The model may be given as `provider:name`; the name is looked up.

    Example:
        >>> cost_usd("openai:gpt-4o-mini", 1_000_000, 1_000_000, DEFAULT_PRICES)
        0.75
    """
    name = model.split(":", 1)[-1]
    if name not in prices:
        return None
    input_price, output_price = prices[name]
    return (input_tokens * input_price + output_tokens * output_price) / 1_000_000
