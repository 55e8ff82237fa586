"""The import contracts in pyproject.toml (docs/architecture.md) hold on this tree, and they bite:
a copy of the project with one forbidden import added fails `lint-imports`, naming that import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "accounts", "exchanges", "keys", "notifications", "risk", "trading", "ops")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the project's packages and contracts, to add violations to."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    return root


def test_the_real_tree_keeps_every_contract():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout and "BROKEN" not in r.stdout


@pytest.mark.parametrize(("module", "line", "contract", "named"), [
    # a lower layer importing a higher one
    ("accounts/audit.py", "import trading.models", "Layers", "accounts.audit -> trading.models"),
    ("accounts/services.py", "from keys.services import key_create", "Layers", "accounts.services -> keys.services"),
    ("config/api.py", "import risk.models", "Layers", "config.api -> risk.models"),
    ("config/celery.py", "from accounts.services import heartbeat_record", "Layers",
     "config.celery -> accounts.services"),
    ("notifications/outbox.py", "import risk.checks", "Notifications import no trading or risk",
     "notifications.outbox -> risk.checks"),
    # a cycle inside a package (accounts.services imports accounts.audit)
    ("accounts/audit.py", "import accounts.services", "No import cycles", "No cycles are allowed in accounts"),
    # the delivery task imported instead of sent by name (it is also a cycle)
    ("notifications/outbox.py", "from notifications.tasks import deliver", "by name",
     "notifications.outbox -> notifications.tasks"),
    # the engine and the pure risk checks stay plain Python
    ("trading/engine/types.py", "import django", "The engine and the pure risk checks",
     "trading.engine.types -> django"),
    ("trading/engine/fills.py", "from trading.models import Bot", "The engine and the pure risk checks",
     "trading.engine.fills -> trading.models"),
    ("risk/checks.py", "from rest_framework import status", "The engine and the pure risk checks",
     "risk.checks -> rest_framework"),
    ("risk/checks.py", "import risk.models", "The engine and the pure risk checks", "risk.checks -> risk.models"),
    # paper code never touches exchange keys
    ("trading/backtest.py", "from keys.services import key_credentials", "Paper code",
     "trading.backtest -> keys.services"),
])
def test_a_new_violation_fails_naming_the_import(tree, module, line, contract, named):
    path = tree / module
    original = path.read_text()
    path.write_text(f"{original}\n{line}  # deliberate violation\n")
    try:
        r = _lint(tree)
    finally:
        path.write_text(original)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    broken = out[out.index("Broken contracts"):]
    assert contract in broken and named in broken, broken


def test_the_copy_is_clean_without_the_violation(tree):
    """So the failures above come from the added line, not from the copy."""
    r = _lint(tree)
    assert r.returncode == 0, r.stdout + r.stderr


HOMES = {"audit_record": "accounts.audit", "vault": "config.vault", "Vault": "config.vault",
         "CryptoConfigError": "config.vault"}


def test_the_audit_log_and_the_vault_are_imported_from_their_own_modules():
    """accounts.services and keys.services use them too, but are not the place to import them from."""
    import ast

    wrong = []
    for top in (*PACKAGES, "tests", "bench", "scripts"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    for alias in node.names:
                        home = HOMES.get(alias.name)
                        if home and node.module != home:
                            wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {alias.name} from "
                                         f"{node.module}, not {home}")
    assert not wrong, "\n".join(wrong)


def _app_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:
                continue
            yield rel, path.read_text()


def test_no_function_level_import_of_project_code_without_a_reason():
    """Imports of our own apps sit at the top of a module; apps.py, management commands and a line that says
    why (a comment on it or the line above) are the exceptions."""
    project = "|".join(PACKAGES)
    found = []
    for rel, text in _app_modules():
        if rel.name == "apps.py" or "commands" in rel.parts:
            continue
        lines = text.splitlines()
        for n, line in enumerate(lines):
            stripped = line.lstrip()
            if line == stripped or not (stripped.startswith(("from ", "import "))):
                continue
            head = stripped.split()[1].split(".")[0]
            if head not in project.split("|"):
                continue
            if "#" in line or lines[n - 1].lstrip().startswith("#"):
                continue
            found.append(f"{rel}:{n + 1}: {stripped}")
    assert not found, found


def test_no_app_module_is_over_500_lines():
    long = {str(rel): n for rel, text in _app_modules() if (n := len(text.splitlines())) > 500}
    assert not long, long


def test_order_status_is_written_only_by_the_order_writer():
    """trading/execution/writer.py sets every order status (through the state table); nothing else assigns
    one, updates one in bulk or in SQL."""
    import re

    writes = re.compile(r"trading_order SET status|Order\.objects\.[^\n]*\.update\([^)]*status=|"
                        r"\b(order|o|target|row)\.status\s*=(?!=)")
    found = [f"{rel}:{n + 1}" for rel, text in _app_modules() if rel != Path("trading/execution/writer.py")
             for n, line in enumerate(text.splitlines()) if writes.search(line)]
    assert not found, found
