"""The quiet exchange checks of live keys are spread over LIVE_RECONCILE_QUIET_SECONDS instead of all falling due
in the same reconciliation cycle (keys made live together: a restart, a batch of promotions)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from trading.execution.reconcile import quiet_due, reconcile_live

INTERVAL = 120.0
CYCLE = 10


def sweeps(keys, start, cycles):
    """Simulate the 10 s cycles: which keys sweep in which cycle, each first checked at `start`."""
    checked = dict.fromkeys(keys, start)
    by_cycle = Counter()
    per_key = Counter()
    for c in range(1, cycles + 1):
        now = start + timedelta(seconds=CYCLE * c)
        for k in keys:
            if quiet_due(key_id=k, checked_at=checked[k], now=now, interval=INTERVAL):
                checked[k] = now
                by_cycle[c] += 1
                per_key[k] += 1
    return by_cycle, per_key, checked


def test_keys_checked_together_are_spread_over_the_interval():
    start = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    keys = list(range(1, 101))
    by_cycle, per_key, _ = sweeps(keys, start, cycles=12)  # one interval
    assert set(per_key.values()) == {1}  # every key once per interval, not more, not less
    assert max(by_cycle.values()) <= 12  # about 100 / 12 a cycle, never all 100 at once
    assert len(by_cycle) == 12


def test_no_key_waits_longer_than_the_interval_and_none_is_checked_twice_in_it():
    start = datetime(2026, 1, 5, 12, 0, 7, tzinfo=UTC)
    keys = [3, 17, 4242, 10**6]
    by_cycle, per_key, _ = sweeps(keys, start, cycles=12 * 5)
    assert set(per_key.values()) == {5}
    for k in keys:
        due = [start + timedelta(seconds=CYCLE * c) for c in range(1, 61)
               if quiet_due(key_id=k, checked_at=start + timedelta(seconds=CYCLE * (c - 1)),
                            now=start + timedelta(seconds=CYCLE * c), interval=INTERVAL)]
        gaps = {(b - a).total_seconds() for a, b in zip(due, due[1:], strict=False)}
        assert gaps == {INTERVAL}


def test_a_key_never_checked_is_due_at_once():
    assert quiet_due(key_id=1, checked_at=None, now=datetime.now(UTC), interval=INTERVAL)


@pytest.mark.django_db
def test_a_live_bot_is_checked_at_once_then_once_an_interval(live_bot, emu, settings):
    settings.LIVE_RECONCILE_QUIET_SECONDS = int(INTERVAL)
    t0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    balance = "/api/v3/account"
    before = emu.count(balance)
    reconcile_live(now=t0)  # the first check: at once
    assert emu.count(balance) == before + 1
    for c in range(1, 13):
        reconcile_live(now=t0 + timedelta(seconds=CYCLE * c))
    assert emu.count(balance) == before + 2  # one more within the next interval, at the key's own phase
