"""Data: the platform risk policy row, the global kill switch row, and the staff role groups."""

from decimal import Decimal

from django.db import migrations

ROLES = {
    # global kill switch, halt/resume any bot, approve promotions; sees policies and events
    "risk officer": [
        ("risk", "killswitch", "manage_global_kill_switch"),
        ("risk", "killswitch", "halt_any_bot"),
        ("risk", "killswitch", "approve_promotion"),
        ("risk", "killswitch", "view_killswitch"),
        ("risk", "riskpolicy", "view_riskpolicy"),
        ("risk", "riskpolicy", "change_riskpolicy"),
        ("risk", "riskevent", "view_riskevent"),
        ("accounts", "user", "view_user"),
        ("trading", "bot", "view_bot"),
        ("trading", "order", "view_order"),
        ("trading", "fill", "view_fill"),
    ],
    # view users and bots; no secrets, no trading actions
    "support": [
        ("accounts", "user", "view_user"),
        ("trading", "bot", "view_bot"),
        ("trading", "order", "view_order"),
        ("trading", "fill", "view_fill"),
        ("risk", "killswitch", "view_killswitch"),
        ("risk", "riskpolicy", "view_riskpolicy"),
    ],
    # read-only audit log and risk events
    "auditor": [
        ("accounts", "auditevent", "view_auditevent"),
        ("risk", "riskevent", "view_riskevent"),
        ("risk", "killswitch", "view_killswitch"),
    ],
}


def _ensure_permissions(apps):
    """Permissions are normally created after all migrations ran; a data migration needs them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def forwards(apps, schema_editor):
    RiskPolicy = apps.get_model("risk", "RiskPolicy")
    KillSwitch = apps.get_model("risk", "KillSwitch")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    RiskPolicy.objects.get_or_create(scope="platform", defaults={
        "max_position_quote": None,
        "max_position_pct": Decimal("100"),
        "max_open_trades": 10,
        "max_trades_per_day": 50,
        "daily_loss_pct": Decimal("5"),
        "max_drawdown_pct": Decimal("25"),
        "max_orders_per_minute": 10,
        "cooldown_minutes": 60,
    })
    KillSwitch.objects.get_or_create(key="global", defaults={"scope": "global"})

    _ensure_permissions(apps)
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, model, codename in perms:
            perm = Permission.objects.get(content_type__app_label=app_label, content_type__model=model,
                                          codename=codename)
            group.permissions.add(perm)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0001_initial"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
