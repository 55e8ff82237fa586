import json
import re

from django import forms
from django.conf import settings

from exchanges.adapter import exchange_timeframes
from trading.engine.candles import TIMEFRAMES
from trading.selectors import markets_suggest

SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$")


class BotForm(forms.Form):
    """The fixed part of a bot; strategy parameters come from the strategy registry's schema (see views)."""

    name = forms.CharField(max_length=100)
    exchange = forms.ChoiceField(choices=())
    symbol = forms.CharField(max_length=64, help_text="The market, e.g. BTC/USDT: type to search the exchange's markets.",
                             widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                           "data-market-picker": "id_exchange",
                                                           "autocapitalize": "characters"}))
    starting_balance = forms.DecimalField(
        label="Starting balance", max_digits=24, decimal_places=8, min_value=0,
        help_text="Paper money in the quote currency (USDT for BTC/USDT).")
    timeframe = forms.ChoiceField(
        label="Candle timeframe", choices=[(tf, tf) for tf in TIMEFRAMES], initial="1m", required=False,
        help_text="The candles the strategy decides on: a 5m bot acts once per closed 5-minute candle.")
    strategy = forms.ChoiceField(choices=())

    def __init__(self, *args, strategies: list[dict], bot=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.suggestions: list[str] = []
        self.fields["exchange"].choices = [(e, e) for e in settings.SUPPORTED_EXCHANGES]
        self.fields["strategy"].choices = [(s["id"], s["name"]) for s in strategies]
        # what each exchange offers (ccxt's `timeframes`, no network call): the page lists only those (the
        # service refuses the others with a field error, whatever posts them)
        offered = {e: [tf for tf in TIMEFRAMES if tf in exchange_timeframes(e)] or list(TIMEFRAMES)
                   for e in settings.SUPPORTED_EXCHANGES}
        self.fields["timeframe"].widget.attrs["data-exchange-timeframes"] = json.dumps(offered)
        if bot is not None:
            for name in ("exchange", "symbol", "starting_balance"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed once the bot exists."
            if bot.status != "stopped":
                self.fields["strategy"].disabled = True
                self.fields["strategy"].help_text = "Stop the bot to change its strategy or parameters."
                self.fields["timeframe"].disabled = True
                self.fields["timeframe"].help_text = "Stop the bot to change its timeframe."

    def clean_symbol(self):
        symbol = self.cleaned_data["symbol"].strip().upper()
        if symbol.count("/") == 0 and (symbol.count("-") == 1 or symbol.count("_") == 1):
            symbol = symbol.replace("-", "/").replace("_", "/")  # BTC-USDT, btc_usdt: the same market
        if not SYMBOL_RE.match(symbol):  # the same shape the API accepts
            self.suggestions = self._listed_like(symbol)
            hint = f" Did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
            raise forms.ValidationError(f"Write the market as BASE/QUOTE, e.g. BTC/USDT.{hint}")
        return symbol

    def _listed_like(self, symbol: str) -> list[str]:
        """For BTCUSDT: the listed markets written that way on the chosen exchange (BTC/USDT)."""
        exchange = self.data.get("exchange") if self.is_bound else None
        if exchange not in settings.SUPPORTED_EXCHANGES or len(symbol) > 64:
            return []
        squashed = "".join(ch for ch in symbol if ch.isalnum())
        return [s for s in markets_suggest(exchange=exchange, symbol=squashed, limit=3)
                if "".join(ch for ch in s if ch.isalnum()) == squashed]
