import pytest


@pytest.fixture
def mail_tasks_run_here():
    """Mail to users is sent by Celery tasks on the alerts worker (accounts/emails.py); these tests run those
    tasks in the test process at once (Celery's eager mode), so the mail is in django.core.mail.outbox."""
    import accounts.tasks  # noqa: F401  (registers the tasks here, so eager mode applies to them)
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
