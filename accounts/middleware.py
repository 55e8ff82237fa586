"""Pages for an account that must choose a new password (the first-run staff account) lead to the change form."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

ALLOWED_NAMES = ("password_change", "password_change_done", "logout", "login", "login_totp")


class PasswordChangeRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(("/api/", "/static/")):  # before request.user: the API has its own check
            return self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and getattr(user, "must_change_password", False)
                and request.path not in {reverse(name) for name in ALLOWED_NAMES}):
            messages.warning(request, "Choose your own password first: the one printed on the first run works once.")
            return redirect("password_change")
        return self.get_response(request)
