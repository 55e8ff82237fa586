from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from config.api import DomainError
from config.forms import form_add_domain_error
from notifications.forms import EVENT_LABELS, ChannelForm
from notifications.selectors import channels_for, outbox_for
from notifications.services import channel_create, channel_delete, channel_test, channel_update


@sensitive_post_parameters("webhook_url", "secret", "apprise_url")
@login_required
@require_http_methods(["GET", "POST"])
def notifications_page(request):
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            channel = channel_create(owner=request.user, request=request, **form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, f"Saved channel “{channel.name}”: {channel.target_hint}. The full URL and "
                                      "the secret are never shown again. Send a test to check it.")
            return redirect("notifications")
    log_page = Paginator(outbox_for(request.user), 25).get_page(request.GET.get("page"))
    channels = list(channels_for(request.user))
    for channel in channels:
        channel.event_labels = ", ".join(EVENT_LABELS.get(e, e) for e in channel.events)
    return render(request, "notifications/page.html", {"form": form, "channels": channels, "log": log_page})


@login_required
@require_POST
def channel_test_view(request, pk: int):
    channel = get_object_or_404(channels_for(request.user), pk=pk)
    try:
        outcome = channel_test(channel=channel, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, f"{channel.name}: {exc.message}")
        return redirect("notifications")
    level = messages.success if outcome["ok"] else messages.warning if outcome["outcome"] == "rate_limited" \
        else messages.error
    level(request, f"{channel.name}: {outcome['message']}")
    return redirect("notifications")


@login_required
@require_POST
def channel_toggle_view(request, pk: int):
    channel = get_object_or_404(channels_for(request.user), pk=pk)
    channel = channel_update(channel=channel, actor=request.user, request=request, is_active=not channel.is_active)
    messages.success(request, f"{channel.name}: {'enabled' if channel.is_active else 'paused'}.")
    return redirect("notifications")


@login_required
@require_POST
def channel_delete_view(request, pk: int):
    channel = get_object_or_404(channels_for(request.user), pk=pk)
    name = channel.name
    channel_delete(channel=channel, actor=request.user, request=request)
    messages.success(request, f"Deleted channel “{name}”.")
    return redirect("notifications")
