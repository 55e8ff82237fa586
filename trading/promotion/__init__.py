"""The gated paper-to-live promotion workflow.

- eligibility.py: the pure rules (no Django): a paper record in, every criterion out.
- models.py: PromotionPolicy (the platform row staff edit) and PromotionRequest.
- selectors.py: reads (policy, the bot's paper record, open requests, staff queue).
- services.py: the writes (request, confirm, approve, reject, demote, activate), all audited and notified.
"""
