from django import forms
from django.conf import settings


class KeyForm(forms.Form):
    exchange = forms.ChoiceField(choices=())
    label = forms.CharField(max_length=64, help_text="A name you will recognise, e.g. “main” or “testnet”.")
    api_key = forms.CharField(label="API key", max_length=512, strip=False,
                              widget=forms.PasswordInput(attrs={"autocomplete": "off"}))
    secret = forms.CharField(label="Secret", max_length=512, strip=False,
                             widget=forms.PasswordInput(attrs={"autocomplete": "off"}))
    passphrase = forms.CharField(label="Passphrase", max_length=256, required=False, strip=False,
                                 widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
                                 help_text="Only for exchanges that ask for one (e.g. OKX).")
    uid = forms.CharField(label="UID", max_length=128, required=False, strip=False,
                          help_text="Only for exchanges that ask for one.")
    sandbox = forms.BooleanField(required=False, label="Testnet (sandbox) key")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = [(e, e) for e in settings.SUPPORTED_EXCHANGES]
