"""Client order ids: the ONE function that names an order. Pure, deterministic, exchange-safe.

An order is named by who decided it (the bot), when (the decision step: the newest closed candle's
open time in ms) and which of that step's intents it is (`n`), so a retry of the same decision carries
the same id and an exchange (or our database) refuses the duplicate instead of placing it twice.

    client_order_id(bot_id=None, step_key=1700000040000, n=0)  == "1700000040000:0"        (bot-local)
    client_order_id(bot_id=42,   step_key=1700000040000, n=0)  == "16-1700000040000:0"     (account-wide)

- `bot_id=None` gives the bot-local id that the paper engine, the backtest and `Order.client_id` have
  always used (`<step>:<n>`): unique per bot, which is all a paper order needs.
- With a bot id, `<bot id in base 36>-` goes in front, so bots sharing one exchange account never
  collide there (Binance wants client ids unique per account).
- Every id matches Binance's `^[.A-Z:/a-z0-9_-]{1,36}$` (ccxt's `clientOrderId`). A step key that
  cannot be used as it is (not a non-negative int or short lowercase token) and a bot id too big for
  the budget are replaced by an uppercase hash, which the plain forms never contain, so the forms
  cannot collide with each other.
- `step_part(id)` gives back the bot-local part: the paper venue seeds its fill randomness with it,
  so the same data and seed fill the same way whatever the bot id.
"""

from __future__ import annotations

import hashlib
import re

MAX_LEN = 36
MAX_N = 9999  # intents per decision step; a strategy emits a handful
ID_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  # Binance newClientOrderId
_STEP_TOKEN = re.compile(r"^[a-z0-9_.]{1,16}$")  # used as is: no '-', ':' or uppercase
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_MAX_BOT_DIGITS = MAX_LEN - (16 + 1 + len(str(MAX_N))) - 1  # what is left for the bot part: 14


def _base36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _B36[digit] + out
        if not number:
            return out


def _hashed(text: str, length: int) -> str:
    """'H' + `length` uppercase base-32 characters of a SHA-256 (not a secret: a stable short name)."""
    digest = hashlib.sha256(text.encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    value = int.from_bytes(digest[:10], "big")
    return "H" + "".join(alphabet[(value >> (5 * i)) & 31] for i in range(length))


def _step_token(step_key: int | str) -> str:
    if isinstance(step_key, bool):
        raise ValueError("step_key must be an int or a string")
    if isinstance(step_key, int):
        text = str(step_key)
        return text if step_key >= 0 and len(text) <= 16 else _hashed(f"i:{text}", 15)
    if isinstance(step_key, str):
        return step_key if _STEP_TOKEN.match(step_key) else _hashed(f"s:{step_key}", 15)
    raise ValueError("step_key must be an int or a string")


def _bot_token(bot_id: int | str) -> str:
    if isinstance(bot_id, bool):
        raise ValueError("bot_id must be an int or a string")
    if isinstance(bot_id, int) and bot_id >= 0:
        text = _base36(bot_id)
        return text if len(text) <= _MAX_BOT_DIGITS else _hashed(f"i:{bot_id}", _MAX_BOT_DIGITS - 1)
    if isinstance(bot_id, int | str):
        return _hashed(f"{type(bot_id).__name__}:{bot_id}", _MAX_BOT_DIGITS - 1)
    raise ValueError("bot_id must be an int or a string")


def client_order_id(*, bot_id: int | str | None, step_key: int | str, n: int) -> str:
    """The client order id of intent `n` of decision step `step_key` of bot `bot_id` (None: bot-local)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_N:
        raise ValueError(f"n must be a whole number from 0 to {MAX_N}")
    local = f"{_step_token(step_key)}:{n}"
    return local if bot_id is None else f"{_bot_token(bot_id)}-{local}"


def step_part(client_id: str) -> str:
    """The bot-local part of a client order id (`<step>:<n>`): the id without its bot prefix."""
    return client_id.rpartition("-")[2]
