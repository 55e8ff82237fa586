from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("trading", "0006_live_ids")]

    operations = [
        migrations.AddField(model_name="bot", name="timeframe", field=models.CharField(default="1m", max_length=8)),
    ]
