"""pipelines.advice: `lg advise RUNS_DIR` summarises whether fine labels paid off, per dataset."""

import pytest

from lg_keras.errors import ConfigError, RunDirError
from pipelines import advice, cli
from tests.helpers import report_fixtures as rf


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return rf.build_runs_dir(tmp_path_factory.mktemp("advise"))


def _block(text: str, header: str) -> str:
    """The paragraph of the summary that starts with `header`."""
    (block,) = [b for b in text.split("\n\n") if b.startswith(header)]
    return block


def test_summary_gives_delta_interval_and_plain_verdicts(runs_dir):
    text = advice.summarize(runs_dir)
    cifar10 = _block(text, "CIFAR-10 (cifar10), full training data")
    # Fine minus coarse per seed: 0.8, 0.7, 0.6 points; t(0.975, 2) * 0.1 / sqrt(3) = 0.248.
    assert "ΔA +0.70 points, 95% interval [+0.45, +0.95] over 3 seed pairs" in cifar10
    assert "A_CC 98.40% [98.15, 98.65] over 3 seeds" in cifar10
    assert "Fine labels paid off" in cifar10
    assert "McNemar p = 0.008, 0.016, 0.031 (seeds 0, 1, 2) (secondary" in cifar10
    assert "cluster-derived fine labels, 3 per coarse class" in cifar10
    assert "ΔA +0.30 points" in cifar10 and "ACR 0.250" in cifar10
    assert "did not pay off" in _block(text, "CIFAR-100 (cifar100)")
    assert "No clear effect: the interval covers 0" in _block(text, "CIFAR-100 animals")
    dogcat = _block(text, "ImageNet dog vs. cat")
    assert "ΔA +2.00 points (one seed pair, no interval)" in dogcat
    assert "Run-to-run variation is unknown with one seed" in dogcat


def test_mapping_scored_by_the_shared_fine_network(runs_dir):
    text = advice.summarize(runs_dir, "cifar10_custom_3")
    assert "the cifar10 fine-trained network scored under this mapping" in text
    assert "ΔA +1.00 points, 95% interval" in text
    assert "CIFAR-100" not in text


def test_dataset_filter_errors_and_empty_directories(runs_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"No finished runs for dataset 'cifar1000'.*"
                                          r"Available: cifar10, "):
        advice.summarize(runs_dir, "cifar1000")
    with pytest.raises(RunDirError, match="does not exist"):
        advice.summarize(str(tmp_path / "missing"))
    assert advice.summarize(str(tmp_path)) == f"No finished runs in {tmp_path} yet."


def test_lg_advise_command(runs_dir, capsys, tmp_path):
    assert cli.main(["advise", runs_dir, "--dataset", "imagenet_dogcat"]) == 0
    out = capsys.readouterr().out
    assert "ImageNet dog vs. cat" in out and "ΔA +2.00 points" in out
    assert cli.main(["advise", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
