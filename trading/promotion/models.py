"""The promotion models are defined in trading/models.py (so trading.models imports nothing from this package:
no import cycle); this module names them for the workflow's code."""

from trading.models import PromotionPolicy, PromotionRequest

__all__ = ["PromotionPolicy", "PromotionRequest"]
