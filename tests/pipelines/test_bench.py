"""Tests of `make bench`: FLOP counting, the PyTorch reference network, the plain-loop builder and
a --quick run that must write every headline key."""

import json
import os
import subprocess
import sys

import keras
import pytest

from lg_keras.config import BuildConfig, ModelConfig
from lg_keras.models import build_model
from pipelines import bench, bench_build, bench_compute, bench_readings


def test_forward_flops_counts_conv_and_dense_multiply_adds():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.Conv2D(6, 1, strides=2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    expected = 2 * (8 * 8 * 3 * 3 * 3 * 4 + 4 * 4 * 1 * 1 * 4 * 6 + 6 * 2)
    assert bench_compute.forward_flops(model) == expected


def test_full_preact_resnet18_counts_the_published_multiply_adds():
    model = build_model(ModelConfig(width=64), 10, (32, 32, 3))
    # ResNet-18 on CIFAR: 0.56 G multiply-adds per 32 x 32 image (kuangliu's network, ptflops).
    assert bench_compute.forward_flops(model) / 2 == pytest.approx(0.5554e9, rel=0.01)


def test_torch_reference_network_matches_the_keras_one():
    bench_torch = pytest.importorskip("pipelines.bench_torch")
    torch = pytest.importorskip("torch")
    width = 16
    net = bench_torch.PreActResNet18(num_classes=10, width=width)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    ours = build_model(ModelConfig(width=width), 10, (32, 32, 3)).count_params()
    # Ours adds He et al.'s final BN (gamma, beta) and keeps its moving statistics as weights.
    torch_params = sum(p.numel() for p in net.parameters())
    torch_buffers = sum(b.numel() for n, b in net.named_buffers() if "running" in n)
    assert ours == torch_params + torch_buffers + 4 * 8 * width
    # The paper profile's network (final_norm=False) is the authors' one, parameter for parameter.
    authors = build_model(ModelConfig(width=width, final_norm=False), 10, (32, 32, 3))
    assert authors.count_params() == torch_params + torch_buffers


def test_plain_loop_writes_the_records_the_beam_builder_writes(tmp_path):
    hierarchy = bench_build.write_png_folder(str(tmp_path / "gen"), num_classes=3,
                                             train_per_class=5, test_per_class=2, num_coarse=2)
    cfg = BuildConfig(dataset=f"folder:{tmp_path / 'gen' / 'images'}", hierarchy=hierarchy)
    result = bench_build.compare_builds(cfg, [], str(tmp_path / "work"))
    assert result["same_records"]
    assert result["records"] == {"train": 15, "test": 6}
    assert result["beam_seconds"] > 0 and result["plain_seconds"] > 0


def test_format_table_marks_met_and_missed_targets():
    out = {key: None for key in bench.HEADLINE}
    out.update(utilisation_full=0.7, beam_vs_plain=2.0, input_wait_fraction=0.01)
    lines = {line.split()[0]: line for line in bench.format_table(out).splitlines()[1:]}
    assert lines["utilisation_full"].endswith("yes")
    assert lines["beam_vs_plain"].endswith("NO")
    assert lines["input_wait_fraction"].endswith("yes")
    assert "null" in lines["peak_rss_gib"]


@pytest.mark.slow
def test_quick_run_writes_every_headline_key(tmp_path):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "LG_DATA_DIR"}
    subprocess.run([sys.executable, "-m", "pipelines.bench", "--quick", "--out", str(out)],
                   check=True, env=env, timeout=900)
    report = json.loads(out.read_text())
    for key in bench.HEADLINE:
        assert key in report
    measured = [k for k in bench.HEADLINE if k != "peak_rss_gib"]
    if "torch" not in report["versions"]:
        measured = [k for k in measured if not k.startswith("vs_pytorch")]
    if not report["machine"]["native_bfloat16"]:
        assert report["bfloat16_vs_float32_thin"] is None
        measured.remove("bfloat16_vs_float32_thin")
    assert all(isinstance(report[k], float) and report[k] > 0 for k in measured), report
    assert report["peak_rss_gib"] is None  # --quick skips the memory subprocess
    assert report["build"]["same_records"]
    for key in ("date", "machine", "versions", "compute", "input", "planner", "gpu"):
        assert key in report


@pytest.mark.parametrize("numerator,denominator,expected", [
    (3.0, 2.0, 1.5), (0.0, 2.0, 0.0), (1.0, 0.0, None), (0.0, 0.0, None), (1.0, -1.0, None),
    (None, 1.0, None), (1.0, None, None), (float("inf"), 1.0, None), (1.0, float("nan"), None)])
def test_ratio_has_no_value_for_a_zero_or_missing_reading(numerator, denominator, expected):
    assert bench_readings.ratio(numerator, denominator) == expected


def test_the_gpu_stage_runs_its_code_path_on_the_cpu():
    """Stage 7 (mixed float16 epoch time on a GPU) has no GPU in CI: its path runs on the CPU."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    out = {"notes": []}
    bench.measure_gpu(bench.QUICK, out, devices=tf.config.list_physical_devices("CPU"), width=4)
    assert out["gpu"]["devices"] == 1 and out["gpu"]["images_per_second"] > 0
    assert out["gpu"]["epoch_seconds"] == pytest.approx(50_000 / out["gpu"]["images_per_second"])
    assert out["gpu"]["gpu_utilisation"] is None and not out["notes"]  # no nvidia-smi here
    empty = {"notes": []}
    bench.measure_gpu(bench.QUICK, empty, devices=[])
    assert empty["gpu"]["epoch_seconds"] is None and "No GPU" in empty["notes"][0]
