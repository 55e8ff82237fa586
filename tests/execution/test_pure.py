"""The venue seam's pure modules import no Django (a live venue and the paper one share them)."""

import subprocess
import sys
from pathlib import Path


def test_the_venue_types_states_and_paper_venue_import_no_django():
    code = ("import sys, trading.execution.types, trading.execution.venue, trading.execution.states, "
            "trading.execution.paper, trading.engine.ids; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery', "
            "'ccxt', 'risk', 'keys', 'accounts', 'notifications')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env={"PATH": ""},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
