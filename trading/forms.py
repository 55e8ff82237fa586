import re

from django import forms
from django.conf import settings

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
    strategy = forms.ChoiceField(choices=())

    def __init__(self, *args, strategies: list[dict], bot=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = [(e, e) for e in settings.SUPPORTED_EXCHANGES]
        self.fields["strategy"].choices = [(s["id"], s["name"]) for s in strategies]
        if bot is not None:
            for name in ("exchange", "symbol", "starting_balance"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed once the bot exists."
            if bot.status != "stopped":
                self.fields["strategy"].disabled = True
                self.fields["strategy"].help_text = "Stop the bot to change its strategy or parameters."

    def clean_symbol(self):
        symbol = self.cleaned_data["symbol"].strip().upper()
        if not SYMBOL_RE.match(symbol):  # the same shape the API accepts
            raise forms.ValidationError("Write the market as BASE/QUOTE, e.g. BTC/USDT.")
        return symbol
