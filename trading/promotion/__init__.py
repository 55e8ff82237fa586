"""The gated paper-to-live promotion workflow.

- eligibility.py: the pure rules (no Django): a paper record in, every criterion out.
- models.py: names PromotionPolicy (the platform row staff edit) and PromotionRequest, which are defined in
  trading/models.py (so trading.models imports nothing from this package).
- selectors.py: reads (policy, the bot's paper record, open requests, staff queue).
- services.py: the writes (request, confirm, approve, reject, demote, activate), all audited and notified.

The API is trading/api/promotion_views.py, the admin sits in trading/admin.py, the page card in
templates/trading/_bot_promotion.html; docs/promotion.md walks through it.
"""
