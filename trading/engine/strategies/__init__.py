"""The strategy registry: ids and parameter names are part of the public API."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from ..types import ParamError
from .base import Strategy, StrategyContext
from .dca import Dca
from .grid import Grid
from .rsi import Rsi
from .sma_cross import SmaCross

STRATEGIES: dict[str, type[Strategy]] = {cls.id: cls for cls in (SmaCross, Rsi, Grid, Dca)}

__all__ = ["STRATEGIES", "ParamError", "Strategy", "StrategyContext", "get_strategy", "strategies_describe",
           "validate_params"]


def strategies_describe() -> list[dict]:
    """For GET /api/strategies/: id, name, description and the parameter schema of each strategy."""
    return [cls.describe() for cls in STRATEGIES.values()]


def validate_params(strategy_id: str, params: Any) -> dict:
    """Normalized, JSON-safe params for that strategy, or ParamError (unknown strategy -> field "strategy")."""
    cls = STRATEGIES.get(strategy_id)
    if cls is None:
        raise ParamError({"strategy": f"unknown strategy {strategy_id!r} (available: {', '.join(STRATEGIES)})"})
    return cls.validate_params(params if params is not None else {})


@lru_cache(maxsize=4096)
def _cached(strategy_id: str, params_json: str) -> Strategy:
    validate_params(strategy_id, json.loads(params_json))
    return STRATEGIES[strategy_id](json.loads(params_json))


def get_strategy(strategy_id: str, params: Any) -> Strategy:
    """A ready strategy instance (cached: instances hold only their validated params)."""
    try:
        key = json.dumps(params, sort_keys=True, default=str)
    except (TypeError, ValueError):
        raise ParamError({"params": "must be a JSON object"}) from None
    return _cached(strategy_id, key)
