"""The README tells how to move the local servers: PG_PORT and REDIS_PORT (and the test run's TEST_ ports),
with the defaults the scripts really use."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_names_the_port_variables_with_the_scripts_defaults():
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `PG_PORT`, `REDIS_PORT`"))
    pg, redis = re.findall(r"`(\d+)`", row)[:2]
    test_pg, test_redis = re.findall(r"`(\d+)`", row)[2:4]
    stack = (ROOT / "scripts/stack.py").read_text()
    assert f'self.get("PG_PORT", "{pg}")' in stack and f'self.get("REDIS_PORT", "{redis}")' in stack
    test_sh = (ROOT / "scripts/test.sh").read_text()
    assert f"${{TEST_PG_PORT:-{test_pg}}}" in test_sh and f"${{TEST_REDIS_PORT:-{test_redis}}}" in test_sh
    assert "starts" in row and "make run" in row
