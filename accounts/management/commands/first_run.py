"""On the first start of a fresh install: create a staff account and say how to log in."""

import secrets

from django.core.management.base import BaseCommand

from accounts.audit import audit_record
from accounts.models import User


class Command(BaseCommand):
    help = "Create the first staff account (once) and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument("--username", default="admin")

    def handle(self, *args, url: str, username: str, **options):
        url = url.rstrip("/")
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(f"Log in at {url}/login/ (staff: {url}/admin/), or sign up at {url}/signup/.")
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        audit_record(action="user.bootstrap_admin", actor=None, target=f"user:{user.pk}")
        bar = "=" * 72
        self.stdout.write(
            f"\n{bar}\n  First run: created the staff account '{username}'.\n"
            f"  One-time password (shown only now; change it after logging in): {password}\n"
            f"  Log in at {url}/login/  ·  admin at {url}/admin/  ·  or sign up at {url}/signup/\n{bar}\n"
        )
