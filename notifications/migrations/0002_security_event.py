"""Channels made before the "security" event existed get it too (failed sign-ins on the owner's account);
their owners can turn it off on the Notifications page."""

from django.db import migrations


def add_security(apps, schema_editor):
    Channel = apps.get_model("notifications", "Channel")
    for channel in Channel.objects.exclude(events__contains=["security"]).iterator():
        channel.events = [*channel.events, "security"]
        channel.save(update_fields=["events"])


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]
    operations = [migrations.RunPython(add_security, migrations.RunPython.noop)]
