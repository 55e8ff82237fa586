"""Risk pages: the risk panel (limits, switches, events, halted bots) and the emergency stop."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config.api import DomainError
from config.forms import form_add_domain_error
from config.redirects import next_url
from risk import services
from risk.limits import effective_limits, platform_policy
from risk.models import RiskPolicy
from risk.selectors import feature_flags, kill_switches_for, policies_for, risk_events_for
from trading.execution import safety
from trading.selectors import bots_for_risk

LIMIT_LABELS = {
    "max_position_quote": "Max position (quote value)",
    "max_position_pct": "Max position (% of equity)",
    "max_open_trades": "Max open trades",
    "max_trades_per_day": "Max trades per day per bot",
    "daily_loss_pct": "Daily loss circuit breaker (%)",
    "max_drawdown_pct": "Max drawdown from peak (%)",
    "max_orders_per_minute": "Max orders per minute per bot",
    "cooldown_minutes": "Cool-down after a breach (minutes)",
    "user_daily_loss_pct": "Daily loss of all your bots together (%)",
}


class LimitsForm(forms.ModelForm):
    class Meta:
        model = RiskPolicy
        fields = list(RiskPolicy.LIMIT_FIELDS)
        labels = LIMIT_LABELS


class StopForm(forms.Form):
    scope = forms.ChoiceField(choices=[("user", "user"), ("global", "global")], initial="user")
    action = forms.ChoiceField(choices=[("halt", "halt"), ("flatten", "halt and flatten"),
                                        ("reduce_only", "reduce only")])


class ReleaseForm(forms.Form):
    scope = forms.ChoiceField(choices=[("user", "user"), ("global", "global")], initial="user")
    password = forms.CharField(required=False, widget=forms.PasswordInput)
    totp = forms.CharField(required=False, max_length=10)


def _panel(request, *, limits_form: LimitsForm | None = None, status: int = 200):
    user = request.user
    rows = list(policies_for(user=user))
    by_scope = {r.scope: r for r in rows}
    platform = by_scope.get(RiskPolicy.PLATFORM) or platform_policy()
    effective = effective_limits(policies=[platform, *[r for r in rows if r.scope != RiskPolicy.PLATFORM]])
    own = by_scope.get(RiskPolicy.USER)
    limits_form = limits_form or LimitsForm(instance=own)
    fields = {f.name: f for f in limits_form}
    limits = [{"name": n, "label": LIMIT_LABELS[n], "platform": getattr(platform, n),
               "yours": getattr(own, n) if own else None, "effective": effective[n], "field": fields[n]}
              for n in RiskPolicy.LIMIT_FIELDS]
    context = {
        "switches": kill_switches_for(user=user),
        "limits": limits,
        "limits_form": limits_form,
        "bots": bots_for_risk(user=user).filter(owner=user).order_by("name"),
        "events": risk_events_for(user=user)[:50],
        "can_global": services.can_manage_global(user),
        "flags": feature_flags(),
    }
    context["halted_count"] = sum(1 for b in context["bots"] if b.status == "halted")
    return render(request, "risk/panel.html", context, status=status)


@login_required
def panel(request):
    return _panel(request)


@login_required
@require_http_methods(["GET", "POST"])
def stop(request):
    """GET: the confirm step (for pages without the header dialog). POST: stop now."""
    if request.method == "GET":
        return render(request, "risk/stop_confirm.html", {"next": next_url(request, reverse("risk")),
                                                          "can_global": services.can_manage_global(request.user)})
    form = StopForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what the emergency stop should do.")
        return redirect("risk-stop")
    action = form.cleaned_data["action"]
    try:
        result = safety.emergency_stop(actor=request.user, scope=form.cleaned_data["scope"],
                                         flatten=action == "flatten", reduce_only=action == "reduce_only",
                                         request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(next_url(request, reverse("risk")))
    parts = [f"Emergency stop engaged ({result.scope}).",
             f"{len(result.bots_halted)} bot(s) halted" if action != "reduce_only"
             else f"{len(result.bots_reduce_only)} bot(s) set to reduce-only",
             f"{result.orders_cancelled} open order(s) cancelled"]
    if action == "flatten":
        parts.append(f"{result.positions_flattened} position(s) closed at market")
    messages.warning(request, " ".join([parts[0], ", ".join(parts[1:]) + "."]))
    for problem in result.flatten_failed.values():
        messages.error(request, f"A position could not be closed: {problem}. It is still open.")
    if result.live_orders_cancelled:
        messages.warning(request, f"{len(result.live_orders_cancelled)} live order(s) cancelled on the exchange: "
                                  + ", ".join(c["order"] for c in result.live_orders_cancelled[:20]) + ".")
    for failed in result.live_orders_failed[:20]:
        messages.error(request, f"Live order {failed['order']} could not be cancelled: {failed['reason']}.")
    return redirect(next_url(request, reverse("risk")))


@login_required
@require_POST
def release(request):
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Confirm with your password or a two-factor code.")
        return redirect("risk")
    d = form.cleaned_data
    try:
        safety.kill_switch_release(scope=d["scope"], user=request.user if d["scope"] == "user" else None,
                                     actor=request.user, password=d["password"] or None, totp=d["totp"] or None,
                                     request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("risk")
    messages.success(request, "Kill switch released. Halted bots stay halted until you resume them.")
    return redirect("risk")


@login_required
@require_POST
def limits(request):
    """Errors come back on the same page, next to each field, with what was typed kept."""
    own = policies_for(user=request.user).filter(scope=RiskPolicy.USER).first()
    form = LimitsForm(request.POST, instance=own)
    if form.is_valid():
        try:
            services.policy_tighten(actor=request.user, user=request.user, values=form.cleaned_data,
                                    request=request)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, "Your limits were saved.")
            return redirect("risk")
    messages.error(request, "The limits were not saved: see the fields marked below.")
    return _panel(request, limits_form=form, status=400)


@login_required
@require_POST
def resume(request, pk: int):
    bot = get_object_or_404(bots_for_risk(user=request.user), pk=pk)
    try:
        safety.bot_resume(bot=bot, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Bot {bot.name} resumed.")
    return redirect(next_url(request, reverse("risk")))

