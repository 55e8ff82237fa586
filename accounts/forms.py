from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import User


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional. Used for alerts you choose to receive by email.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_username(self):
        username = super().clean_username()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken.")
        return username


class TotpConfirmForm(forms.Form):
    code = forms.CharField(label="Code from your app", max_length=10,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))


class TotpDisableForm(forms.Form):
    password = forms.CharField(label="Your password", max_length=128,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
