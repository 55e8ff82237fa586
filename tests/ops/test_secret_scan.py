r"""No secret in the repository: detect-secrets over every tracked file, against the reviewed baseline.

Outside tests/ every plugin runs and each finding must be in .secrets.baseline, reviewed (is_secret false).
Inside tests/ fake passwords and keys are the point, so the keyword and entropy plugins are off there,
and the ones that recognise real credentials (private keys, cloud and chat tokens, JWTs ...) stay on.

A new finding: if it is a real secret, remove it (and rotate it). If it is a placeholder, make it look like
one, or after review refresh the baseline: `detect-secrets scan --exclude-files '^(tests/|\.secrets\.baseline$)'
--baseline .secrets.baseline` and set "is_secret": false on the new entry.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DETECT = Path(sys.executable).parent / "detect-secrets"
FUZZY = ["KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString"]


def _scan(*args: str) -> dict[str, list[dict]]:
    result = subprocess.run([str(DETECT), "scan", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["results"]


@pytest.fixture(scope="module", autouse=True)
def _checkout():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the secret scan reads the tracked files of a git checkout")


def test_no_new_secret_outside_the_tests():
    baseline = json.loads((ROOT / ".secrets.baseline").read_text())["results"]
    known = {(f, s["hashed_secret"]) for f, found in baseline.items() for s in found}
    assert all(s.get("is_secret") is False for found in baseline.values() for s in found), \
        "every baseline entry must be reviewed (is_secret: false)"
    found = _scan("--exclude-files", r"^(tests/|\.secrets\.baseline$)")  # the baseline holds only hashes
    new = [f"{f}:{s['line_number']} {s['type']}" for f, items in found.items() for s in items
           if (f, s["hashed_secret"]) not in known]
    assert not new, f"possible secrets (see this test's docstring): {new}"


def test_no_real_credential_in_the_tests():
    found = _scan(*[arg for p in FUZZY for arg in ("--disable-plugin", p)], "tests")
    assert not found, {f: [(s["line_number"], s["type"]) for s in items] for f, items in found.items()}
