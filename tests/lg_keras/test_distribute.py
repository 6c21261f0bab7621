"""Tests of lg_keras/distribute.py. Splitting the CPU needs a fresh process: those run in one.

The 2-replica training step itself is checked against numpy in test_train.py.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from lg_keras import distribute
from lg_keras.config import TrainConfig
from lg_keras.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_NO_GPU = pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")),
                             reason="checks the CPU-only behaviour")


@_NO_GPU
@pytest.mark.parametrize("kind", ["auto", "default"])
def test_one_device_strategies(kind):
    strategy = distribute.make_strategy(TrainConfig(strategy=kind))
    assert strategy.num_replicas_in_sync == 1
    assert distribute.strategy_name(strategy) == "default"
    assert distribute.is_chief(strategy)


@_NO_GPU
def test_mixed_precision_policy_on_cpu():
    assert distribute.mixed_precision_policy(TrainConfig(mixed_precision="auto")) == "float32"
    assert distribute.mixed_precision_policy(TrainConfig(mixed_precision="off")) == "float32"
    assert distribute.mixed_precision_policy(TrainConfig(mixed_precision="on")) == "mixed_float16"
    assert distribute.mixed_precision_policy(
        TrainConfig(mixed_precision="bfloat16")) == "mixed_bfloat16"


@pytest.mark.parametrize("native,has_gpu,policy", [
    (True, False, "mixed_bfloat16"), (False, False, "float32"),
    (True, True, "mixed_float16"), (False, True, "mixed_float16")])
def test_native_bfloat16_is_decided_where_the_run_trains(monkeypatch, native, has_gpu, policy):
    """A compiled pipeline's cpu-profile config: bfloat16 only on a CPU that computes it natively,
    and on a GPU what 'auto' picks."""
    monkeypatch.setattr(distribute.machine, "native_bfloat16", lambda *_: native)
    monkeypatch.setattr(distribute, "gpus", lambda: ["GPU:0"] if has_gpu else [])
    cfg = TrainConfig(mixed_precision="native_bfloat16")
    assert distribute.mixed_precision_policy(cfg) == policy


def test_unknown_mixed_precision_names_the_field_and_the_choices():
    with pytest.raises(ConfigError, match=r"train.mixed_precision 'fp8'.*bfloat16"):
        TrainConfig(mixed_precision="fp8")


@_NO_GPU
def test_mirrored_after_tensorflow_started_with_one_cpu_is_a_clear_error():
    tf.config.list_logical_devices("CPU")  # make sure TensorFlow has initialised its devices
    if len(tf.config.list_logical_devices("CPU")) > 1:
        pytest.skip("this process already has several logical CPUs")
    with pytest.raises(ConfigError, match="split_cpu"):
        distribute.make_strategy(TrainConfig(strategy="mirrored", num_cpu_replicas=2))


_CHILD = textwrap.dedent("""
    import json
    from lg_keras import distribute
    from lg_keras.config import TrainConfig
    out = {"first": distribute.split_cpu(2), "again": distribute.split_cpu(2)}
    strategy = distribute.make_strategy(TrainConfig(strategy="mirrored", num_cpu_replicas=2))
    out["mirrored"] = [distribute.strategy_name(strategy), strategy.num_replicas_in_sync,
                       list(strategy.extended.worker_devices)]
    try:
        distribute.split_cpu(3)
    except RuntimeError as e:
        out["late"] = str(e)
    worker = distribute.make_strategy(TrainConfig(strategy="multi_worker",
                                                  collective_timeout_s=42))
    out["multi_worker"] = [distribute.strategy_name(worker), distribute.is_chief(worker),
                           distribute.is_multi_worker(worker), distribute.task_name(worker),
                           worker.extended._communication_options.timeout_seconds]
    distribute.check_workers_agree(worker, 3, "the epoch")  # one worker: nothing to compare
    print(json.dumps(out))
""")


@_NO_GPU
def test_split_cpu_and_the_strategies_in_a_fresh_process():
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, capture_output=True,
                         text=True, timeout=300,
                         env={**env, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["first"] == result["again"] == ["/device:CPU:0", "/device:CPU:1"]
    name, replicas, devices = result["mirrored"]
    assert (name, replicas) == ("mirrored", 2)
    assert [d.split("/")[-1] for d in devices] == ["device:CPU:0", "device:CPU:1"]
    assert "already initialised" in result["late"]
    # Without TF_CONFIG the strategy has one worker: the chief, not in multi-worker mode.
    assert result["multi_worker"] == ["multi_worker", True, False, "local", 42.0]


def test_one_process_strategies_are_not_multi_worker():
    strategy = distribute.make_strategy(TrainConfig(strategy="default"))
    assert not distribute.is_multi_worker(strategy)
    assert distribute.task_name(strategy) == "local"
    distribute.check_workers_agree(strategy, 1, "the epoch")


def test_a_lost_worker_error_names_the_cause_the_epoch_and_what_is_kept():
    """The trainer's ClusterError keeps TensorFlow's cause (the line naming the unhealthy task),
    drops the op trace and says which checkpoint survives."""
    message = textwrap.dedent("""\
        Graph execution error:

        Detected at node CollectiveReduceV2 defined at (most recent call last):
          File "train.py", line 10, in <module>

        Collective ops is aborted by: The following tasks are unhealthy (stopped sending heartbeats):
        /job:worker/replica:0/task:1
        The timeout was 10 seconds.
        \t [[{{node CollectiveReduceV2}}]] [Op:__inference_train_function_1234]""")
    strategy = distribute.make_strategy(TrainConfig(strategy="default"))
    error = tf.errors.UnavailableError(None, None, message)
    text = str(distribute.lost_worker_error(error, strategy, "runs/r", 2, 30.0))
    assert "stopped in epoch 3 on local" in text
    assert ("UnavailableError: Collective ops is aborted by: The following tasks are unhealthy "
            "(stopped sending heartbeats): /job:worker/replica:0/task:1)") in text
    assert "runs/r is not finished; it keeps the checkpoint of epoch 2." in text
    assert "train.collective_timeout_s = 30 s" in text
    assert "Detected at node" not in text and "{{node" not in text
    first = str(distribute.lost_worker_error(
        tf.errors.DeadlineExceededError(None, None, "Collective timed out"), strategy, "d", 0, 5))
    assert "stopped in epoch 1" in first and "it has no checkpoint yet" in first
    assert "DeadlineExceededError: Collective timed out)" in first


def test_collective_timeout_must_be_positive_seconds():
    with pytest.raises(ConfigError, match=r"train.collective_timeout_s.*\[1, 86400\].*0"):
        TrainConfig(collective_timeout_s=0)
