from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from accounts.login import InvalidCredentials, LoginThrottled, login_attempt
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


class LoginForm(AuthenticationForm):
    """Django's login form through the same brakes as the API (accounts/login.py)."""

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = login_attempt(request=self.request, username=username, password=password)
            except LoginThrottled as exc:
                raise forms.ValidationError(f"{exc.message} (about {exc.retry_after // 60 + 1} min)",
                                            code="throttled") from None
            except InvalidCredentials:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginTotpForm(forms.Form):
    code = forms.CharField(label="Code from your app (or a recovery code)", max_length=20,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}))
