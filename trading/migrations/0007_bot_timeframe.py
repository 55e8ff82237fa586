from django.db import migrations, models


# db_default: rows written by code that predates the column (a rolling deploy) are 1m bots too
class Migration(migrations.Migration):
    dependencies = [("trading", "0006_live_ids")]

    operations = [
        migrations.AddField(model_name="bot", name="timeframe", field=models.CharField(db_default="1m", default="1m", max_length=8)),
    ]
