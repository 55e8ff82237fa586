from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from config.api import DomainError
from config.forms import form_add_domain_error
from keys.forms import KeyForm
from keys.selectors import key_age_days, key_rotate_due, key_test_status, keys_for
from keys.services import balances_text, key_create, key_delete, key_relabel, key_test, keys_revoke_all


@sensitive_post_parameters("api_key", "secret", "passphrase", "uid")
@login_required
@require_http_methods(["GET", "POST"])
def key_list(request):
    form = KeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key = key_create(owner=request.user, request=request, verify=True, **form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            saved = f"Saved {key.exchange} key “{key.label}”. Its secret will never be shown again."
            if key_test_status(key) == "passed":
                messages.success(request, f"{saved} Connection test passed: the key can read your balance "
                                          f"({balances_text(key.balances or [])}).")
            else:
                messages.warning(request, f"{saved} It is untested: {key.last_test_message}")
            return redirect("keys")
    keys = [{"key": k, "age_days": key_age_days(k), "rotate_due": key_rotate_due(k)} for k in keys_for(request.user)]
    return render(request, "keys/list.html", {"form": form, "keys": keys})


@login_required
@require_POST
def key_test_view(request, pk: int):
    key = get_object_or_404(keys_for(request.user), pk=pk)
    try:
        outcome = key_test(key=key, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, f"{key.label}: {exc.message}")
        return redirect("keys")
    if outcome["ok"]:
        messages.success(request, f"{key.label}: {outcome['message']} Balance: {balances_text(outcome['balances'])}.")
    else:
        messages.error(request, f"{key.label}: {outcome['error']['message']}")
    return redirect("keys")


@login_required
@require_POST
def key_relabel_view(request, pk: int):
    key = get_object_or_404(keys_for(request.user), pk=pk)
    old = key.label
    try:
        key_relabel(key=key, label=request.POST.get("label", ""), actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, f"{old}: {exc.message}")
    else:
        messages.success(request, f"Renamed “{old}” to “{key.label}”.")
    return redirect("keys")


@login_required
@require_POST
def key_delete_view(request, pk: int):
    key = get_object_or_404(keys_for(request.user), pk=pk)
    label = key.label
    key_delete(key=key, actor=request.user, request=request)
    messages.success(request, f"Deleted key “{label}”.")
    return redirect("keys")


@login_required
@require_POST
def keys_revoke_all_view(request):
    count = keys_revoke_all(owner=request.user, request=request)
    messages.warning(request, f"Revoked all your keys ({count} deleted). Also revoke them at the exchange.")
    return redirect("keys")
