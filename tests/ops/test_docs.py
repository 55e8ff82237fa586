"""What an operator reads: docs/operations.md names only metrics /metrics really exports (its table and its alert
rules) and covers every runbook the operations issue asks for; docs/scale-out.md says what runs where, what must
exist once, what one host carries and what to add first; the README's Deploy section stays short and points to
the docs."""

import re
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
SCALE_OUT = (ROOT / "docs" / "scale-out.md").read_text()


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = re.search(r"^## ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + nxt.start()] if nxt else text[start:]


@pytest.mark.django_db
def test_every_metric_the_runbook_names_is_exported(charlie):
    client = Client()
    client.force_login(charlie)
    reply = client.get("/metrics")
    assert reply.status_code == 200
    exported = set()
    for family in text_string_to_metric_families(reply.content.decode()):
        exported.add(family.name)
        exported.update(s.name for s in family.samples)
        exported.add(family.name + "_total")  # the parser drops a counter's _total suffix
    named = set(re.findall(r"\btp_[a-z0-9_]*[a-z0-9]\b", _section(OPERATIONS, "## Health and metrics")))
    assert len(named) >= 15, named
    assert named <= exported, f"the docs name metrics /metrics does not export: {sorted(named - exported)}"


def test_the_runbook_covers_each_secret_backups_upgrades_the_shell_stop_and_incidents():
    for heading in ("## Where every secret lives", "## Rotating each secret", "## Backups and restore",
                    "## Upgrade and rollback", "## Emergency stop from a shell", "## Health and metrics",
                    "## When prices go stale", "## When a worker dies"):
        assert heading in OPERATIONS, heading
    rotating = _section(OPERATIONS, "## Rotating each secret")
    for secret in ("SECRET_KEY", "JWT_SIGNING_KEY", "FIELD_ENCRYPTION_KEYS", "Database password", "DingTalk"):
        assert secret in rotating, secret
    assert "ALTER ROLE" in rotating and "rotate_encryption_keys" in rotating  # with the commands
    backups = _section(OPERATIONS, "## Backups and restore")
    assert "manage.py backup" in backups and "restore" in backups and "--force" in backups
    rules = _section(OPERATIONS, "### Alert rules to set")
    for alert in ("PricesStale", "TickSlowerThanInterval", "AlertOutboxGrowing", "WorkerHeartbeatMissing"):
        assert f"alert: {alert}" in rules, alert


def test_the_scale_out_doc_says_what_runs_where_what_exists_once_and_what_one_host_carries():
    for heading in ("## What runs where", "## What must exist exactly once", "## Proven on loopback",
                    "## How much one host carries"):
        assert heading in SCALE_OUT, heading
    once = _section(SCALE_OUT, "## What must exist exactly once")
    assert "beat" in once
    carries = _section(SCALE_OUT, "## How much one host carries")
    assert re.search(r"[\d,]+ (running paper )?bots", carries) and re.search(r"[\d,]+ WebSocket", carries)
    assert "What to add first" in carries
    for var in ("DATABASE_URL", "REDIS_URL"):
        assert var in SCALE_OUT


def test_the_readmes_deploy_section_is_short_and_points_to_the_docs():
    readme = (ROOT / "README.md").read_text()
    deploy = _section(readme, "## Deploy")
    lines = [line for line in deploy.splitlines()[1:] if line.strip()]
    assert len(lines) <= 12, f"the Deploy section grew to {len(lines)} lines: move the details to docs/"
    for doc in ("docs/deploy.md", "docs/operations.md", "docs/scale-out.md"):
        assert f"]({doc})" in deploy, doc
        assert (ROOT / doc).exists(), doc


def test_the_readme_says_live_trading_is_off_and_gated_and_the_checklist_exists():
    readme = (ROOT / "README.md").read_text()
    intro = readme.split("```", 1)[0]
    assert "ENABLE_LIVE_TRADING=true" in intro and "off until the operator" in intro
    for doc in ("docs/promotion.md", "docs/live-trading.md"):
        assert f"]({doc})" in intro and (ROOT / doc).exists(), doc
    checklist = (ROOT / "docs" / "live-trading.md").read_text()
    for heading in ("## Before turning it on", "## What happens on every live order", "## When the exchange misbehaves",
                    "## Stopping", "## Settings"):
        assert heading in checklist, heading
    before = _section(checklist, "## Before turning it on")
    assert "no withdrawal permission" in before and "ENABLE_LIVE_TRADING=true" in before
