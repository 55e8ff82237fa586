"""`make bench` machinery, cheaply: every benchmark script answers --help, the doc block is rewritten between
its markers only, a benchmark whose tool is missing is skipped with the reason, and the locust file loads.
(The benchmarks themselves print figures; they are not timed here.)"""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "bench" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_bench_script_is_planned_and_answers_help_within_the_budget():
    run_all = _run_all()
    planned = {b.argv[0] for b in run_all.BENCHES}
    scripts = {p.name for p in (ROOT / "bench").glob("*.py")} - {"run_all.py", "locustfile.py"}
    assert scripts <= planned, f"bench scripts make bench does not run: {sorted(scripts - planned)}"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--dry-run"], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BAD" not in r.stdout
    assert sum(b.timeout for b in run_all.BENCHES) <= run_all.BUDGET_SECONDS


def test_the_generated_block_is_replaced_and_the_history_kept(tmp_path):
    run_all = _run_all()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n## Hand-written history\n\nOld figures: 42 ms.\n")
    info = {"cpus": 2, "ram_gib": 23.5, "cpu": "Test CPU", "python": "3.11", "kernel": "6"}
    bench = run_all.BENCHES[0]
    first = [{"bench": bench, "status": "ok", "seconds": 3.0, "output": "figure one", "load": (0.5, 0.7)}]
    when = run_all.datetime(2026, 12, 3, 14, 0, tzinfo=run_all.UTC)
    doc.write_text(run_all.doc_rewrite(doc.read_text(), run_all.block(first, "make bench", 300, when, info)))
    text = doc.read_text()
    assert text.index("Intro.") < text.index(run_all.START) < text.index("## Hand-written history")
    assert "figure one" in text and "Test CPU" in text and "2 CPUs" in text and "2026-12-03 14:00 UTC" in text
    assert "`make bench`" in text and "23.5 GiB" in text

    second = [{**first[0], "output": "figure two"}]
    doc.write_text(run_all.doc_rewrite(doc.read_text(), run_all.block(second, "make bench", 300, when, info)))
    text = doc.read_text()
    assert "figure two" in text and "figure one" not in text
    assert text.count(run_all.START) == 1 and text.count(run_all.END) == 1
    assert "Old figures: 42 ms." in text and text.startswith("# Benchmarks\n\nIntro.\n")


def test_the_real_doc_has_one_generated_block():
    run_all = _run_all()
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.count(run_all.START) == 1 and text.count(run_all.END) == 1
    assert text.index(run_all.START) < text.index(run_all.END)


def test_a_bench_whose_tool_is_missing_is_skipped_with_the_reason():
    run_all = _run_all()
    bench = run_all.Bench("x", "a promise", ("engine.py",), 5, needs="no_such_module_for_bench")
    result = run_all.run_one(bench, 60)
    assert result["status"].startswith("skipped: no_such_module_for_bench is not installed")
    assert result["output"] == ""


def test_the_locust_file_loads_its_user_class():
    locust = shutil.which("locust", path=str(ROOT / ".venv" / "bin"))
    if locust is None:
        pytest.skip("locust is not installed (requirements/bench.txt; make bench installs it)")
    r = subprocess.run([locust, "-f", str(ROOT / "bench" / "locustfile.py"), "--list"], capture_output=True,
                       text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ApiClient" in r.stdout
