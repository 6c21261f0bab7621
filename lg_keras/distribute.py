"""tf.distribute strategies and the mixed-precision policy for a run.

- 'auto': MirroredStrategy over all GPUs when there are several, else the default strategy.
- 'default': the default (single-device) strategy.
- 'mirrored': MirroredStrategy over all GPUs; on a machine without GPUs, over logical CPU devices
  listed explicitly, which `split_cpu` must create before TensorFlow initialises its devices
  (FACTS.md: two CPU replicas run at about 0.57x the speed of no strategy; it is for testing the
  distributed path, not for speed).
- 'multi_worker': MultiWorkerMirroredStrategy; TensorFlow reads the cluster from TF_CONFIG itself.
  Every worker runs the same command with the same run directory, which must be storage they all
  read (a shared file system or bucket): every worker resumes from the chief's checkpoint, and
  `check_workers_agree` fails the run when they disagree on where to resume. Only the chief writes
  the run directory; the trainer component gives the other workers a temporary directory it
  removes at the end (Keras' and TensorFlow's multi-worker pattern: every worker saves, since a
  save may read variables across workers, but only the chief's files are kept). Each worker reads
  the whole split and keeps its part of every global batch (`data.py`: auto-shard policy DATA).

Multi-worker faults: a worker whose process dies closes its connections and the others' next
collective fails within seconds; one that stops answering (a hung or unreachable machine) is
caught by TensorFlow's coordination service, which MultiWorkerMirroredStrategy starts with a
10 s heartbeat timeout (TF 2.21); and every collective fails with DeadlineExceeded after
`train.collective_timeout_s` (`CommunicationOptions(timeout_seconds=...)`), which also catches a
live worker stuck outside the collectives. The trainer turns these errors into a `ClusterError`.

Under a mirrored strategy the global batch is split across replicas; Keras scales each replica's
loss (including the L2 regularisation losses) by 1 / num_replicas and sums the gradients, so one
step equals the single-device step on the whole batch (tests/lg_keras/test_distribute.py checks it).
BatchNorm statistics are per replica (no synchronised BatchNorm), like PyTorch's DataParallel.

Mixed precision: 'auto' is mixed_float16 on GPUs and float32 elsewhere; 'bfloat16' asks for
mixed_bfloat16 (variables, BatchNorm statistics, the loss and the logits stay float32). On a CPU
with native bfloat16 (AMX or AVX512-BF16; `lg_keras.machine.native_bfloat16`) oneDNN's bfloat16 convolutions made
the thin ResNet-18 train about 1.5x faster here (650 -> 950 images/s, batch 128); a CPU without it
emulates bfloat16 and is slower than float32, which is why no profile asks for it blindly.
'native_bfloat16' is that choice made here, where the run trains: mixed_float16 on GPUs,
mixed_bfloat16 on such a CPU, float32 on other CPUs (a compiled pipeline's cpu-profile runs).
"""

import logging
import re

import tensorflow as tf

from lg_keras import machine
from lg_keras.config import TrainConfig
from lg_keras.errors import ClusterError, ConfigError

# What a collective op raises when a peer dies (Unavailable: connection closed, or the coordination
# service's heartbeat), restarts (FailedPrecondition, Aborted), is cancelled, or exceeds
# `train.collective_timeout_s` (DeadlineExceeded).
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
               tf.errors.CancelledError, tf.errors.AbortedError,
               tf.errors.FailedPreconditionError)


def gpus() -> list:
    """The physical GPUs TensorFlow sees (does not initialise the runtime)."""
    return tf.config.list_physical_devices("GPU")


def split_cpu(num: int) -> list[str]:
    """Splits the first physical CPU into `num` logical devices; returns their names.

    Must run before TensorFlow initialises its devices (before the first op, tensor or
    `list_logical_devices` call); entry points call it right after parsing their arguments.
    Calling it again with the same `num` is a no-op.

    Args:
        num: number of logical CPU devices, >= 1.

    Returns:
        The logical CPU device names, e.g. ['/device:CPU:0', '/device:CPU:1'].

    Raises:
        RuntimeError: when TensorFlow has already initialised its devices differently.
    """
    assert num >= 1, num
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu) or []
    if len(current) != num:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num)])
        except RuntimeError as e:
            raise RuntimeError(
                f"Cannot split the CPU into {num} logical devices: TensorFlow has already "
                f"initialised its devices. Call lg_keras.distribute.split_cpu({num}) first thing "
                f"in the process (the trainer entry point does).") from e
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def _cpu_devices(num: int) -> list[str]:
    """Logical CPU device names for a CPU-only mirrored run, splitting the CPU if still possible."""
    try:
        names = split_cpu(num)
    except RuntimeError:
        names = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(names) < 2 <= num:
        raise ConfigError(
            f"train.strategy='mirrored' on a machine without GPUs needs {num} logical CPU devices, "
            f"but TensorFlow was initialised with {len(names)}. Start the run through "
            f"`lg train` / `python -m components.trainer`, which split the CPU before TensorFlow "
            f"starts, or call lg_keras.distribute.split_cpu({num}) first.")
    if len(names) != num:
        logging.warning("train.num_cpu_replicas=%d but %d logical CPU devices exist; using all.",
                        num, len(names))
    return names


def make_strategy(train_cfg: TrainConfig) -> tf.distribute.Strategy:
    """The tf.distribute strategy `train_cfg.strategy` names (see the module docstring).

    Args:
        train_cfg: reads `strategy`, `num_cpu_replicas` and `collective_timeout_s`.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ConfigError: for 'mirrored' on a CPU-only machine whose CPU can no longer be split.
    """
    kind = train_cfg.strategy
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                timeout_seconds=float(train_cfg.collective_timeout_s)))
    if kind == "mirrored":
        if gpus():
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy(_cpu_devices(train_cfg.num_cpu_replicas))
    if kind == "auto" and len(gpus()) > 1:
        return tf.distribute.MirroredStrategy()
    assert kind in ("auto", "default"), kind
    return tf.distribute.get_strategy()


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """'default', 'mirrored', 'multi_worker' or the class name of another strategy."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi_worker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
        return "default"
    return type(strategy).__name__


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` is a MultiWorkerMirroredStrategy over more than one worker."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())  # pylint: disable=protected-access


def task_name(strategy: tf.distribute.Strategy) -> str:
    """'chief-0', 'worker-1', ... from the cluster; 'local' outside a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "local"
    return f"{resolver.task_type}-{resolver.task_id}"


def check_workers_agree(strategy: tf.distribute.Strategy, value: int, what: str) -> None:
    """Raises ClusterError unless every worker passed the same `value` (a no-op on one worker).

    Every worker must call it at the same point: it is a collective op.

    Args:
        strategy: the run's strategy.
        value: this worker's value, e.g. the epoch it resumes after.
        what: names the value in the error, e.g. 'the epoch to resume after'.

    Raises:
        ClusterError: the workers passed different values.
    """
    if not is_multi_worker(strategy):
        return
    values = strategy.gather(tf.constant([value], tf.int64), axis=0).numpy().tolist()
    if len(set(values)) > 1:
        raise ClusterError(
            f"The workers disagree on {what}: {values} (this is {task_name(strategy)}). Every "
            f"worker must see the same run directory, on storage they all read: the chief's.")


def lost_worker_error(error: Exception, strategy: tf.distribute.Strategy, run_dir: str,
                      completed: int, timeout_s: float) -> ClusterError:
    """The ClusterError for a collective op that failed because a peer was lost or stalled."""
    # TensorFlow's message: an op trace, then the cause ("Collective ops is aborted by: ...
    # stopped sending heartbeats):" and the task on the next line), then advice.
    lines = [re.sub(r"\{\{[^}]*\}\}|\[[^\]]*\]\s*$", "", line).strip()
             for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    at = next((i for i, line in enumerate(lines) if re.search(
        r"aborted by|unhealthy|timed out|deadline|socket closed|connect", line, re.I)), 0)
    cause = " ".join(lines[at:at + 2] if lines and lines[at].endswith(":") else lines[at:at + 1])
    kept = (f"it keeps the checkpoint of epoch {completed}" if completed
            else "it has no checkpoint yet")
    task = task_name(strategy)
    return ClusterError(
        f"Multi-worker training stopped in epoch {completed + 1} on {task}: another worker died, "
        f"hung or became unreachable ({type(error).__name__}: {cause[:300]}). {run_dir} is not "
        f"finished; {kept}. Start every worker again with the same command to "
        f"resume. (A dead worker stops the others within seconds, a hung one within TensorFlow's "
        f"heartbeat timeout or train.collective_timeout_s = {timeout_s:g} s.)")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this worker writes the run's outputs (always, except on non-chief workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def mixed_precision_policy(train_cfg: TrainConfig) -> str:
    """The Keras dtype policy of a run: 'auto' is mixed_float16 on GPUs and float32 elsewhere;
    'native_bfloat16' is 'auto', except mixed_bfloat16 on a CPU with native bfloat16."""
    choice = train_cfg.mixed_precision
    if choice == "on":
        return "mixed_float16"
    if choice == "bfloat16":
        return "mixed_bfloat16"
    if choice in ("auto", "native_bfloat16") and gpus():
        return "mixed_float16"
    if choice == "native_bfloat16" and machine.native_bfloat16():
        return "mixed_bfloat16"
    return "float32"
