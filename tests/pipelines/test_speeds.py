"""pipelines.speeds: printed estimates from `make bench`'s report when it was measured on this
machine; the plan itself (runs, order, budget cut, plan.json) always from the fixed constants."""

import json
import os

import pytest

from lg_keras import machine
from lg_keras.config import ModelConfig
from pipelines import estimates, planner, speeds

# The committed report of a full `make bench` run: the format read_bench reads.
COMMITTED = speeds.BENCH_FILE


def _report(**changes) -> dict:
    with open(COMMITTED) as f:
        report = json.load(f)
    report["machine"].update(cpu=machine.cpu_model(), cores=os.cpu_count())
    for key, value in changes.items():
        report[key] = value
    return report


def _write(tmp_path, report) -> str:
    path = str(tmp_path / "latest.json")
    with open(path, "w") as f:
        json.dump(report, f)
    return path


def _fast(tmp_path, factor: float = 2.0) -> str:
    """A report of this machine whose thin network trains `factor` x the fixed constant."""
    report = _report(date="2030-01-02T03:04:05+00:00", bfloat16_vs_float32_thin=None)
    report["compute"]["thin"]["keras_images_per_second"] = (
        factor * speeds.THIN_TRAIN_IMAGES_PER_S)
    return _write(tmp_path, report)


def _run_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("Runs (execution order):") + 1
    return [line for line in lines[start:] if line[:7].strip().rstrip(".").isdigit()]


def test_a_report_of_this_machine_gives_its_measured_speeds(tmp_path):
    measured = speeds.read_bench(_fast(tmp_path, 2.0))
    assert measured.measured and measured.scale == pytest.approx(2.0)
    assert measured.bfloat16_speedup == speeds.BFLOAT16_SPEEDUP  # null ratio: the constant
    assert "measured 2030-01-02 (thin network 1280 images/s)" in measured.source
    thin, wide = ModelConfig(width=16), ModelConfig(name="wide_resnet", depth=28, widen_factor=10)
    for model in (thin, wide):
        assert estimates.train_images_per_second(model, 32, speeds=measured) == pytest.approx(
            2 * estimates.train_images_per_second(model, 32))
    with_bfloat16 = speeds.read_bench(_write(tmp_path, _report(bfloat16_vs_float32_thin=1.7)))
    assert with_bfloat16.bfloat16_speedup == 1.7 and "bfloat16 1.70x" in with_bfloat16.source


@pytest.mark.parametrize("change,reason", [
    (lambda r: r["machine"].update(cpu="Another CPU"), "measured on another machine (Another CPU"),
    (lambda r: r["machine"].update(cores=os.cpu_count() + 1), "measured on another machine"),
    (lambda r: r.update(quick=True), "--quick run"),
    (lambda r: r["sizes"].update(batch=8), "not at batch 128"),
    (lambda r: r["compute"]["thin"].update(keras_images_per_second=None), "no thin-network"),
    (lambda r: r.pop("compute"), "no thin-network"),
])
def test_a_report_that_does_not_match_keeps_the_fixed_constants(tmp_path, change, reason):
    report = _report()
    change(report)
    fixed = speeds.read_bench(_write(tmp_path, report))
    assert not fixed.measured and fixed.scale == 1.0
    assert fixed.source.startswith(speeds.FIXED.source) and reason in fixed.source


def test_an_unreadable_report_keeps_the_fixed_constants(tmp_path):
    path = tmp_path / "latest.json"
    path.write_text("{not json")
    assert "is unreadable" in speeds.read_bench(str(path)).source
    path.write_text("[1, 2]")
    assert "not a bench report" in speeds.read_bench(str(path)).source
    assert speeds.read_bench(str(tmp_path / "absent.json")) is speeds.FIXED


def test_without_a_report_the_printout_shows_the_plan_s_own_estimates(tmp_path):
    plan = planner.plan("smoke", ["table1"])
    text = planner.format_plan(plan, str(tmp_path / "absent.json"))
    lines = text.splitlines()
    assert f"estimated {planner._duration(plan.estimated_seconds)} on this machine" in lines[0]
    assert lines[1] == f"Estimates from {speeds.FIXED.source}."
    runs = _run_lines(text)
    assert len(runs) == len(plan.runs)
    for line, run in zip(runs, plan.runs):
        assert f"~{planner._duration(run.estimated_seconds):>7s}" in line


def test_a_measured_speed_changes_the_printout_not_the_plan(tmp_path, monkeypatch):
    """The budgeted cpu plan keeps its runs (keys, order, membership) and its plan.json with a
    bench report three times as fast as the constants; only the printed estimates change."""
    fixed_plan = planner.plan("cpu")
    fixed_text = planner.format_plan(fixed_plan, str(tmp_path / "absent.json"))
    fast = _fast(tmp_path, 3.0)
    monkeypatch.setattr(planner, "BENCH_FILE", fast)  # format_plan's default report
    plan = planner.plan("cpu")
    assert [r.key for r in plan.runs] == [r.key for r in fixed_plan.runs]
    assert plan.skipped == fixed_plan.skipped and plan.to_dict() == fixed_plan.to_dict()

    text = planner.format_plan(plan)
    assert text == planner.format_plan(plan, fast)
    assert plan.to_dict() == fixed_plan.to_dict()  # printing changed nothing
    header, source = text.splitlines()[:2]
    assert header != fixed_text.splitlines()[0] and "budget 10.0 h" in header
    assert source.startswith("Estimates from ") and "latest.json measured 2030-01-02" in source
    assert f"fixed constants (estimated {planner._duration(plan.estimated_seconds)})" in source
    # Same runs in the same order, each estimated faster than the plan's own figure.
    runs, fixed_runs = _run_lines(text), _run_lines(fixed_text)
    assert [line.split("~")[0] for line in runs] == [line.split("~")[0] for line in fixed_runs]
    assert runs != fixed_runs
    specs = {d.key: d for d in plan.datasets}
    measured = speeds.read_bench(fast)
    for line, run in zip(runs, plan.runs):
        seconds = estimates.estimate_run_seconds(run.experiment, specs[run.dataset], measured)
        assert seconds < run.estimated_seconds
        assert f"~{planner._duration(round(seconds, 1)):>7s}" in line
    # The budget's reasons keep the fixed estimates that made the cut.
    assert text.split("Skipped:")[1] == fixed_text.split("Skipped:")[1]
