from decimal import Decimal

from django.db import migrations, models


def platform_default(apps, schema_editor):
    apps.get_model("risk", "RiskPolicy").objects.filter(scope="platform", user_daily_loss_pct__isnull=True).update(
        user_daily_loss_pct=Decimal("5"))


class Migration(migrations.Migration):
    dependencies = [("risk", "0002_defaults_and_staff_roles")]

    operations = [
        migrations.AddField(
            model_name="riskpolicy",
            name="user_daily_loss_pct",
            field=models.DecimalField(
                blank=True, decimal_places=3, max_digits=7, null=True,
                help_text="Circuit breaker for a whole account: all of a user's bots together vs the day's starting "
                          "equity, %. Breach halts all of the user's bots. Ignored on bot rows."),
        ),
        migrations.RunPython(platform_default, migrations.RunPython.noop),
    ]
