"""pipelines.local_runner: a tiny plan end to end in-process, resumed, locked; the real smoke run.

The tiny plan builds a generated 4-class image folder, trains a width-4 network on its fine labels
for one epoch and scores it under a second hierarchy; a second run needs a dataset that does not
exist and must be skipped with the reason.
"""

import dataclasses
import json
import os
import re
import sys
import time
import types

import keras
import pytest

from components.reporter.report_runs import load_runs
from lg_keras import run_files
from lg_keras.errors import RunDirError
from pipelines import cli, local_runner
from pipelines.plan import Plan
from tests.helpers.plans import tiny_plan


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """The tiny plan run once: (plan, runs_dir, summary, hook calls, seconds)."""
    root = str(tmp_path_factory.mktemp("tiny"))
    plan = tiny_plan(root, with_missing=True)
    runs_dir = os.path.join(root, "runs")
    calls = []
    start = time.time()
    summary = local_runner.run_plan(plan, runs_dir, on_run_finished=lambda r, m: calls.append(
        (r.key, m["coarse_test_accuracy"]) if r else None))
    return plan, runs_dir, summary, calls, time.time() - start


def test_the_plan_runs_into_the_tfx_style_layout(tiny_runs):
    plan, runs_dir, summary, calls, _ = tiny_runs
    with open(os.path.join(runs_dir, "plan.json")) as f:
        book = json.load(f)
    assert book["profile"] == "smoke" and len(book["runs"]) == 2
    entry, run = book["runs"][0], plan.runs[0]
    assert entry["status"] == "done" and entry["key"] == run.key
    assert entry["run_dir"] == os.path.join("trainer", "model", run.key)
    assert entry["dataset_dir"] == os.path.join("example_gen", "examples",
                                                plan.datasets[0].build_hash)
    assert os.path.isfile(os.path.join(runs_dir, entry["dataset_dir"], "dataset.json"))
    assert book["datasets"]["toy"]["status"] == "done"
    with open(os.path.join(runs_dir, entry["run_dir"], "metrics.json")) as f:
        metrics = json.load(f)
    assert list(metrics["by_hierarchy"]) and metrics["config"]["max_embedding_examples"] == 8
    assert os.path.isfile(os.path.join(runs_dir, entry["run_dir"], "model.keras"))
    assert [c and c[0] for c in calls] == [run.key, None]
    assert summary["done"] == 1 and summary["computed"] == 1


def test_an_unobtainable_dataset_is_skipped_with_the_reason(tiny_runs):
    _, runs_dir, summary, _, _ = tiny_runs
    with open(os.path.join(runs_dir, "plan.json")) as f:
        book = json.load(f)
    assert book["runs"][1]["status"] == "skipped"
    assert book["datasets"]["gone"]["status"] == "skipped"
    (reason,) = [r for what, r in book["skipped"] if what == "gone"]
    assert "cannot obtain the dataset" in reason and "missing" in reason
    assert [w for w, _ in summary["skipped"]] == ["gone"]


def test_a_rerun_redoes_nothing(tiny_runs, monkeypatch):
    plan, runs_dir, _, _, _ = tiny_runs
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained again"))
    model = os.path.join(runs_dir, "trainer", "model", plan.runs[0].key, "model.keras")
    metrics = os.path.join(runs_dir, "trainer", "model", plan.runs[0].key, "metrics.json")
    stamps = os.stat(model).st_mtime_ns, os.stat(metrics).st_mtime_ns
    calls = []
    summary = local_runner.run_plan(plan, runs_dir, on_run_finished=lambda r, m: calls.append(r))
    assert summary["computed"] == 0 and summary["done"] == 1
    assert (os.stat(model).st_mtime_ns, os.stat(metrics).st_mtime_ns) == stamps
    assert calls == [None]  # only the final call, so a report exists even when nothing was new


def test_saved_records_rebuild_the_report_and_restored_runs_are_not_trained_again(
        tiny_runs, tmp_path):
    """`lg records save` keeps the numbers without the weights; restored into a fresh RUNS_DIR
    elsewhere, the runner counts the run as done without building its dataset or training."""
    plan, runs_dir, _, _, _ = tiny_runs
    saved = str(tmp_path / "saved")
    assert cli.main(["records", "save", runs_dir, saved]) == 0
    files = {os.path.relpath(os.path.join(r, f), saved) for r, _, fs in os.walk(saved) for f in fs}
    run_rel = os.path.join("trainer", "model", plan.runs[0].key)
    for name in ("config.json", "train_state.json", "history.json", "metrics.json"):
        assert os.path.join(run_rel, name) in files
    assert "plan.json" in files  # (this fixture wrote no report; a reproduce run's is copied too)
    # history.json keeps every per-epoch figure but the fine confusion matrices (metrics.json
    # holds them as val_acr_by_epoch; at 200 classes they made a run's history 5 MB).
    original = run_files.read_history(os.path.join(runs_dir, run_rel))
    assert any(run_files.VAL_CONFUSION_KEY in record for record in original)
    assert run_files.read_history(os.path.join(saved, run_rel)) == [
        {k: v for k, v in record.items() if k != run_files.VAL_CONFUSION_KEY}
        for record in original]
    assert os.path.join("example_gen", "examples", plan.datasets[0].build_hash,
                        "dataset.json") in files
    assert not [f for f in files if f.endswith((".keras", ".tfrecord")) or "checkpoint" in f
                or f.startswith(os.path.join(run_rel, "logs"))]
    assert not [f for f in files if f.endswith(".html")]  # a rendering: `lg report` writes it
    assert cli.main(["report", saved]) == 0 and os.path.isfile(os.path.join(saved, "report.md"))
    assert os.path.isfile(os.path.join(saved, "report.html"))
    rows = load_runs(saved)  # what the report is rebuilt from: the records alone
    (done,) = rows[rows["status"] == "done"].itertuples()
    with open(os.path.join(runs_dir, run_rel, "metrics.json")) as f:
        assert done.coarse_test_accuracy == json.load(f)["coarse_test_accuracy"]
    fresh = str(tmp_path / "fresh")
    assert cli.main(["records", "restore", saved, fresh]) == 0
    summary = local_runner.run_plan(dataclasses.replace(plan, datasets=plan.datasets[:1],
                                                        runs=plan.runs[:1]), fresh,
                                    on_run_finished=None)
    assert summary["computed"] == 0 and summary["done"] == 1
    # Nothing of the build comes back: its dataset.json without shards would pass for a finished
    # build, so the runner would train on nothing.
    assert not os.path.exists(os.path.join(fresh, "example_gen", "examples",
                                           plan.datasets[0].build_hash))
    # Restoring again copies nothing and overwrites nothing.
    assert local_runner.run_records.restore(saved, fresh) == []


def test_an_unfinished_run_has_no_records_to_save(tiny_runs, tmp_path):
    _, runs_dir, _, _, _ = tiny_runs
    partial = os.path.join(runs_dir, "trainer", "model", "toy-coarse-unfinished")
    os.makedirs(partial)
    try:
        for name, content in (("config.json", {"experiment": {}}), ("history.json", [])):
            with open(os.path.join(partial, name), "w") as f:
                json.dump(content, f)
        saved = local_runner.run_records.save(runs_dir, str(tmp_path / "saved"))
        assert saved and not [f for f in saved if "toy-coarse-unfinished" in f]
    finally:
        for name in os.listdir(partial):
            os.remove(os.path.join(partial, name))
        os.rmdir(partial)


def test_records_of_another_config_are_not_taken_for_the_run(tiny_runs, tmp_path):
    plan, runs_dir, _, _, _ = tiny_runs
    saved = str(tmp_path / "saved")
    local_runner.run_records.save(runs_dir, saved)
    run = plan.runs[0]
    out = os.path.join(saved, "trainer", "model", run.key)
    build = plan.datasets[0].build_hash
    assert local_runner.run_records.restored_metrics(out, run.experiment, build) is not None
    # The record holds warmup_epochs 0.0; a plan may hold the int 0 (the cpu profile writes 2):
    # the same run, though the two hash differently.
    assert run.experiment.train.warmup_epochs == 0.0
    as_int = dataclasses.replace(run.experiment, train=dataclasses.replace(
        run.experiment.train, warmup_epochs=0))
    assert local_runner.run_records.restored_metrics(out, as_int, build) is not None
    other_seed = dataclasses.replace(run.experiment, train=dataclasses.replace(
        run.experiment.train, seed=7))
    assert local_runner.run_records.restored_metrics(out, other_seed, build) is None
    assert local_runner.run_records.restored_metrics(out, run.experiment, "0" * 16) is None
    # A run directory that still has its weights is the trainer's and evaluator's to judge.
    assert local_runner.run_records.restored_metrics(
        os.path.join(runs_dir, "trainer", "model", run.key), run.experiment, build) is None
    with pytest.raises(RunDirError, match="outside"):
        local_runner.run_records.save(runs_dir, os.path.join(runs_dir, "records"))
    with pytest.raises(RunDirError, match="no plan.json"):
        local_runner.run_records.restore(str(tmp_path), runs_dir)


def test_a_narrower_plan_keeps_the_hierarchies_already_scored(tiny_runs):
    plan, runs_dir, _, _, _ = tiny_runs
    narrower = dataclasses.replace(plan, runs=(dataclasses.replace(plan.runs[0], hierarchies=()),),
                                   datasets=plan.datasets[:1])
    metrics = os.path.join(runs_dir, "trainer", "model", plan.runs[0].key, "metrics.json")
    stamp = os.stat(metrics).st_mtime_ns
    summary = local_runner.run_plan(narrower, runs_dir, on_run_finished=None)
    assert summary["computed"] == 0 and os.stat(metrics).st_mtime_ns == stamp
    # plan.json still holds what the wider plan asked for: the report keeps its view of the whole
    # directory, while the summary counts this plan's runs only.
    assert summary["runs"] == 1 and summary["done"] == 1 and summary["skipped"] == []
    with open(os.path.join(runs_dir, "plan.json")) as f:
        book = json.load(f)
    assert [(r["key"], r["status"]) for r in book["runs"]] == [
        (plan.runs[0].key, "done"), (plan.runs[1].key, "skipped")]
    assert set(book["datasets"]) == {"toy", "gone"}
    assert [what for what, _ in book["skipped"]] == ["gone"]


def _book(profile="cpu", runs=(), datasets=(), skipped=(), experiments=(), **extra):
    return {"profile": profile, "runs": [dict(r) for r in runs],
            "datasets": {k: {"build_hash": k * 2} for k in datasets},
            "skipped": [list(s) for s in skipped], "experiments": {e: {} for e in experiments},
            **extra}


def test_an_earlier_plan_of_the_profile_is_kept_beside_a_narrower_one(tmp_path):
    runs_dir = str(tmp_path)
    finished = os.path.join("trainer", "model", "a-fine-1")
    os.makedirs(os.path.join(runs_dir, finished))
    with open(os.path.join(runs_dir, finished, "metrics.json"), "w") as f:
        json.dump({"coarse_test_accuracy": 0.5}, f)
    earlier = _book(runs=[{"key": "a-fine-1", "dataset": "a", "run_dir": finished,
                           "status": "pending"},
                          {"key": "b-fine-2", "dataset": "b", "run_dir": "trainer/model/b-fine-2",
                           "status": "done"},
                          {"key": "c-fine-3", "dataset": "c", "run_dir": "trainer/model/c-fine-3",
                           "status": "done"},
                          {"key": "n-fine-4", "dataset": "n", "run_dir": "trainer/model/n-fine-4",
                           "status": "skipped"}],
                    datasets="abcn", experiments=("table1", "table6"),
                    skipped=[("n", "no copy"), ("c-fine-9 (table5)", "over the budget"),
                             ("d-fine-5 (table5)", "over the budget")])
    current = _book(runs=[{"key": "c-fine-3", "dataset": "c", "run_dir": "trainer/model/c-fine-3",
                           "status": "pending"},
                          {"key": "c-fine-9", "dataset": "c", "run_dir": "trainer/model/c-fine-9",
                           "status": "pending"}],
                    datasets="c", experiments=("table5",), skipped=[("n", "no copy")])
    assert local_runner.keep_earlier(current, earlier, runs_dir) == 3
    # The plan's own runs first, unchanged; the earlier ones after, their status read again.
    assert [(r["key"], r["status"]) for r in current["runs"]] == [
        ("c-fine-3", "pending"), ("c-fine-9", "pending"), ("a-fine-1", "done"),
        ("b-fine-2", "pending"), ("n-fine-4", "skipped")]
    assert set(current["datasets"]) == set("abcn")
    assert list(current["experiments"]) == ["table1", "table6", "table5"]
    # A skip that this plan now plans (c-fine-9) is dropped; one it does not is kept, once.
    assert current["skipped"] == [["n", "no copy"], ["d-fine-5 (table5)", "over the budget"]]
    assert earlier["runs"][0]["status"] == "pending"  # the earlier record is not changed


@pytest.mark.parametrize("earlier", [None, [], _book(profile="smoke", runs=[{
    "key": "x-fine-1", "dataset": "x", "run_dir": "trainer/model/x-fine-1"}]),
    _book(runs=[{"key": "x-fine-1", "dataset": "x", "run_dir": "trainer/model/x-fine-1"}],
          study={"dataset": "x"})])
def test_a_plan_of_another_profile_or_a_study_is_replaced(tmp_path, earlier):
    current = _book(runs=[{"key": "c-fine-3", "dataset": "c", "run_dir": "trainer/model/c"}],
                    datasets="c")
    before = json.loads(json.dumps(current))
    assert local_runner.keep_earlier(current, earlier, str(tmp_path)) == 0
    assert current == before


def test_a_second_reproduce_on_the_same_directory_is_refused(tiny_runs):
    plan, runs_dir, _, _, _ = tiny_runs
    lock = runs_dir + ".lock"
    with open(lock, "w") as f:
        f.write("1")  # pid 1 is alive: another process holds RUNS_DIR
    try:
        with pytest.raises(RunDirError, match="in use by another process"):
            local_runner.run_plan(plan, runs_dir, on_run_finished=None)
    finally:
        os.remove(lock)


def test_the_report_hook_is_throttled_and_always_writes_at_the_end(monkeypatch, tmp_path):
    """The hook goes through the reporter component's executor, the report into RUNS_DIR."""
    written = []
    fake = types.ModuleType("components.reporter.executor")
    fake.run = lambda cfg, inputs, outputs: written.append((inputs, outputs)) or {
        "report": f"{outputs['report']}/report.md"}
    monkeypatch.setitem(sys.modules, "components.reporter.executor", fake)
    hook = local_runner.report_hook(str(tmp_path), min_interval_s=3600)
    run = tiny_plan(str(tmp_path)).runs[0]
    hook(run, {})
    hook(run, {})
    assert written == [({"runs": str(tmp_path)}, {"report": str(tmp_path)})]
    hook(None, {})
    assert len(written) == 2


def test_time_left_counts_a_resumed_run_by_the_share_it_trained(tmp_path, monkeypatch):
    monkeypatch.setattr(local_runner.time, "time", lambda: 1000.0)  # elapsed stays 0:00:00
    run = dataclasses.replace(tiny_plan(str(tmp_path)).runs[0], estimated_seconds=100.0)
    plan = Plan(profile="smoke", datasets=(), runs=(run,) * 4, experiments={}, evaluator={})
    progress = local_runner._Progress(plan)  # pylint: disable=protected-access
    assert progress.line(1, 4, run).endswith("about 0:06:40 left")  # 4 x 100 s, unscaled
    progress.finished(run, 2.0, share=0.0)  # found finished, only evaluated: no evidence
    progress.finished(run, 100.0, share=0.5)  # resumed halfway: 100 s for half of 100 s
    assert progress.line(3, 4, run).endswith("about 0:06:40 left")  # 2 runs x 100 s x 2.0
    progress.finished(run, 100.0, share=1.0)
    assert progress.line(4, 4, run).endswith("about 0:02:13 left")  # 100 s x 200/150


def test_smoke_reproduce_of_tables_1_6_7_and_cluster_labels_on_the_real_data(
        shared_data_dir, tmp_path, capsys, monkeypatch):
    """`lg reproduce --profile smoke` of Tables I, VI, VII and cluster_labels on CIFAR-10's builds.

    Restricted to the CIFAR-10 builds (Table I's CIFAR-10 row, Table VI rows (1) and (6), all of
    Table VII with both noise kinds, CIFAR-10's cluster labels) to keep `make test` short: the
    other datasets take the same code path, and their subset builds are tested in
    tests/components/test_example_gen.py.
    """
    out = str(tmp_path / "runs")
    argv = ["reproduce", "--profile", "smoke", "--only", "table1,table6,table7,cluster_labels",
            "--datasets", "cifar10,cifar10_custom_6,cifar10_launched", "--out", out,
            "--data-dir", shared_data_dir, "--no-download"]
    assert cli.main(argv) == 0
    with open(os.path.join(out, "plan.json")) as f:
        book = json.load(f)
    done = [r for r in book["runs"] if r["status"] == "done"]
    assert len(done) == len(book["runs"]) >= 10
    for entry in done:
        assert os.path.isfile(os.path.join(out, entry["run_dir"], "metrics.json"))
    (fine,) = [r for r in done if r["dataset"] == "cifar10" and r["experiment"]["data"]["labels"]
               == "fine"]
    with open(os.path.join(out, fine["run_dir"], "metrics.json")) as f:
        assert len(json.load(f)["by_hierarchy"]) == 10
    clusters = {r["experiment"]["data"]["labels"] for r in done if "_clusters_" in r["dataset"]}
    assert clusters == {"fine_cluster_2", "fine_cluster_5", "fine_cluster_10"}
    launched = {r["experiment"]["data"]["labels"] for r in done if r["dataset"] == "cifar10_launched"}
    assert launched == {f"fine_noise_launched_{r}" for r in ("0.01", "0.03", "0.1", "0.3")}
    with open(os.path.join(out, "report.md")) as f:
        report = f.read()
    for section in ("## Table I", "## Table VI", "## Table VII", "## Extension: cluster",
                    "Table VII with both noise kinds"):
        body = report.split(section, 1)[1].split("\n## ", 1)[0]
        assert re.search(r"\| [+-]?\d+\.\d\d \(", body), section  # a number, not only dashes
    kinds = report.split("Table VII with both noise kinds", 1)[1].split("\n\n", 2)[1]
    assert re.search(r"\| 0\.3 \|.*\| \d+\.\d% \|", kinds)  # the launched coarse-target share
    capsys.readouterr()
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained again"))
    assert cli.main(argv) == 0
    assert "(0 computed now)" in capsys.readouterr().out
