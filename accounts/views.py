from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from accounts.audit import audit_record
from accounts.forms import LoginForm, LoginTotpForm, SignUpForm, TotpConfirmForm, TotpDisableForm
from accounts.login import LoginThrottled
from accounts.models import TotpDevice
from accounts.password_reset import password_reset_request
from accounts.passwords import user_password_changed
from accounts.services import totp_disable, totp_enroll_confirm, totp_enroll_start
from accounts.totp_login import (
    ChallengeInvalid,
    login_challenge_complete,
    login_challenge_issue,
    recovery_codes_issue,
)
from config.api import DomainError


def qr_svg(text: str) -> str:
    """The otpauth URI as an inline SVG QR code, drawn here (nothing leaves the server, no script)."""
    import segno

    return mark_safe(segno.make(text, error="m").svg_inline(scale=4, title="Scan with your authenticator app"))  # noqa: S308 - segno's own markup


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        audit_record(action="user.signup", actor=user, target=f"user:{user.pk}", request=request)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. Your bots trade on paper until you promote them.")
        return redirect("dashboard")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if user.totp_enabled:  # password right: now the code, before any session is made
            self.request.session[TOTP_PENDING] = {
                "challenge": login_challenge_issue(user=user, request=self.request),
                "next": self.get_success_url(),
            }
            return redirect("login_totp")
        return super().form_valid(form)


TOTP_PENDING = "accounts.totp_pending"


@require_http_methods(["GET", "POST"])
def login_totp(request):
    """Second step of page sign-in with two-factor codes on: a code from the app or a recovery code."""
    pending = request.session.get(TOTP_PENDING)
    if not pending:
        return redirect("login")
    form = LoginTotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = login_challenge_complete(challenge=pending["challenge"], code=form.cleaned_data["code"],
                                            request=request)
        except ChallengeInvalid as exc:
            request.session.pop(TOTP_PENDING, None)
            messages.error(request, exc.message)
            return redirect("login")
        except DomainError as exc:
            form.add_error("code", exc.message)
        else:
            request.session.pop(TOTP_PENDING, None)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(next_path(pending.get("next")))
    return render(request, "accounts/login_totp.html", {"form": form})


def next_path(url: str | None) -> str:
    """The login page's `next` (already checked by Django's LoginView), kept only if it is a local path."""
    if url and url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return resolve_url("dashboard")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form):
        response = super().form_valid(form)  # keeps this session (update_session_auth_hash)
        user_password_changed(user=self.request.user, request=self.request, via="page",
                              keep_session_key=self.request.session.session_key)
        messages.success(self.request, "Your password was changed.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Forgot password: the same answer whether or not the address has an account (accounts/password_reset.py)."""

    template_name = "accounts/password_reset_form.html"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        try:
            password_reset_request(email=form.cleaned_data["email"], request=self.request)
        except LoginThrottled as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        return redirect(self.success_url)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)  # sets the password; no sign-in here
        user_password_changed(user=form.user, request=self.request, via="reset")
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


@login_required
@require_http_methods(["GET", "POST"])
def totp(request):
    """Two-factor codes: enrol (secret shown on this response only), confirm with a code, disable with password."""
    user = request.user
    action = request.POST.get("action") if request.method == "POST" else None
    ctx = {"confirm_form": TotpConfirmForm(), "disable_form": TotpDisableForm(), "enrolment": None}
    try:
        if action == "start":
            uri, secret = totp_enroll_start(user=user, request=request)
            ctx["enrolment"] = {"uri": uri, "secret": secret, "qr_svg": qr_svg(uri)}
        elif action == "confirm":
            form = ctx["confirm_form"] = TotpConfirmForm(request.POST)
            if form.is_valid():
                totp_enroll_confirm(user=user, code=form.cleaned_data["code"], request=request)
                messages.success(request, "Two-factor codes are on.")
                # shown on this response only: store them now
                ctx["recovery_codes"] = recovery_codes_issue(user=user, request=request)
        elif action == "disable":
            form = ctx["disable_form"] = TotpDisableForm(request.POST)
            if form.is_valid():
                totp_disable(user=user, password=form.cleaned_data["password"], request=request)
                messages.success(request, "Two-factor codes are off.")
                return redirect("totp")
    except DomainError as exc:
        form = ctx["disable_form"] if action == "disable" else ctx["confirm_form"]
        field = next(iter(exc.fields), None)
        form.add_error(field if field in form.fields else None, exc.message)
    ctx["pending"] = (not user.totp_enabled) and TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).exists()
    return render(request, "accounts/totp.html", ctx)
