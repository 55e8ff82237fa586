"""Races on real PostgreSQL: two confirmations at once make one step, never two; an approval racing a
demotion ends consistent (no deadlock, never a paper bot under an approved request)."""

import threading

import pytest
from django.db import connection

from tests.promotion.fixtures import *  # noqa: F403
from trading.models import Bot
from trading.promotion.demotion import promotion_demote
from trading.promotion.models import PromotionRequest
from trading.promotion.services import promotion_approve, promotion_confirm, promotion_request

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def runner(i, call):
        try:
            barrier.wait()
            results[i] = ("ok", call())
        except Exception as exc:  # noqa: BLE001 - the outcome is the point
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_two_confirmations_at_once_confirm_once(alice, eligible_bot):
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    results = run_together(*[lambda: promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")] * 2)
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    error = next(v for kind, v in results if kind == "error")
    assert error.code == "promotion_conflict"
    promotion = PromotionRequest.objects.get()
    assert promotion.status == "pending_approval" and promotion.attempts == 0


def test_an_approval_racing_a_demotion_ends_consistent(alice, eligible_bot, approver):
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion = promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    results = run_together(lambda: promotion_approve(promotion=promotion, actor=approver),
                           lambda: promotion_demote(bot=Bot.objects.get(pk=eligible_bot.pk), actor=alice))
    assert all(kind == "ok" or getattr(v, "code", "") == "promotion_conflict" for kind, v in results), results
    status = PromotionRequest.objects.get().status
    mode = Bot.objects.get(pk=eligible_bot.pk).mode
    assert (status, mode) in {("approved", "live"), ("cancelled", "paper"), ("demoted", "paper")}
