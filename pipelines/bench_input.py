"""Input-pipeline and memory figures of `make bench`.

- Reader: records/s of `lg_keras.data.train_dataset` (crop + flip, normalisation, batch 128) over
  two epochs of a built dataset: the first parses, decodes and fills the in-memory cache, the
  second reads the cache, as every later epoch of a run does. Each epoch's time to its first batch
  is its start-up stall (the epoch's shuffle buffer fills before the first batch comes out).
- Input wait: the thin network trained on that reader with the model's own compiled train function
  (`model.train_function`, what `fit` calls each step), fed from a Python generator that times
  `next()` on the tf.data iterator. Waiting = time inside `next()`; a step = from the end of one
  step to the end of the next, read back with the loss (so it includes its wait). `fit` itself
  pulls the batch inside its graph, where the wait cannot be told apart from the step.
- Peak memory: a subprocess trains a `cpu`-profile run (the trainer component: thin network,
  batch 128, the real reader and evaluation, checkpoints) for a bounded number of steps and reports
  its own `ru_maxrss`.
"""

import dataclasses
import json
import resource
import subprocess
import sys
import time

import keras
import numpy as np

from lg_keras import data, train
from lg_keras.config import DataConfig, ModelConfig, TrainConfig
from lg_keras.dataset_info import load_dataset_info
from lg_keras.models import build_model
from pipelines.bench_readings import ratio

_MEMORY_SCRIPT = "from pipelines import bench_input; bench_input.memory_child()"


def reader_throughput(dataset_dir: str, batch: int, epochs: int = 2) -> dict:
    """Iterates `epochs` epochs of training batches; records/s and start-up time per epoch.

    Returns:
        {'setup_seconds' (building the dataset and its iterator: reading the split into memory
        where the reader does that), 'records_per_second': [per epoch], 'first_batch_seconds':
        [per epoch], 'records_per_epoch'}.
    """
    info = load_dataset_info(dataset_dir)
    cfg = DataConfig(dataset_dir=dataset_dir, labels="fine", batch_size=batch, cache=True)
    steps = data.steps_per_epoch(info, cfg)
    start = time.perf_counter()
    iterator = iter(data.train_dataset(info, cfg, seed=0, start_epoch=0, end_epoch=epochs))
    setup = time.perf_counter() - start
    rates, stalls = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        count = int(next(iterator)[1].shape[0])
        stalls.append(time.perf_counter() - start)
        for _ in range(steps - 1):
            count += int(next(iterator)[1].shape[0])
        rates.append(ratio(count, time.perf_counter() - start))
    return {"setup_seconds": round(setup, 3), "records_per_second": [round(r, 1) for r in rates],
            "first_batch_seconds": [round(s, 3) for s in stalls], "records_per_epoch": count}


def input_wait(dataset_dir: str, batch: int, steps: int, warmup: int) -> dict:
    """Trains the thin network on the real reader; how much of each step waits for input.

    Args:
        dataset_dir: a built dataset.
        batch: batch size.
        steps: timed steps (after the warm-up ones).
        warmup: untimed steps (tracing) after the epoch's first batch.

    Returns:
        {'wait_fraction' (sum of waits / sum of step times, after the epoch's first batch),
        'images_per_second' (training on real data), 'steps_per_epoch', 'step_seconds',
        'wait_seconds'}.
    """
    info = load_dataset_info(dataset_dir)
    cfg = DataConfig(dataset_dir=dataset_dir, labels="fine", batch_size=batch, cache=True)
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(name="preact_resnet18", width=16), info.num_fine_classes,
                        data.input_shape(info, cfg))
    train.compile_model(model, TrainConfig(), 10 ** 6, info.fine_to_coarse, "fine")
    steps_per_epoch = data.steps_per_epoch(info, cfg)
    epochs = 1 + (warmup + steps + 1) // steps_per_epoch  # > 1 only for tiny (--quick) datasets
    iterator = iter(data.train_dataset(info, cfg, seed=0, start_epoch=0, end_epoch=epochs))
    waits = []

    def batches():
        while True:
            start = time.perf_counter()
            item = next(iterator)
            waits.append(time.perf_counter() - start)
            yield item

    generator = batches()
    model.train_on_batch(*next(iterator))  # builds the optimizer and the train function
    ends = []
    for _ in range(warmup + steps):
        float(model.train_function(generator)["loss"])
        ends.append(time.perf_counter())
    step_seconds = np.diff(ends[warmup - 1:])
    wait_seconds = np.asarray(waits[warmup:])
    return {"wait_fraction": ratio(wait_seconds.sum(), step_seconds.sum()),
            "images_per_second": ratio(batch * len(step_seconds), step_seconds.sum()),
            "steps_per_epoch": steps_per_epoch,
            "step_seconds": [round(float(s), 4) for s in step_seconds],
            "wait_seconds": [round(float(s), 4) for s in wait_seconds]}


def peak_memory(dataset_dir: str, run_dir: str, steps: int, intra: int, inter: int) -> dict:
    """Runs `memory_child` in a fresh Python; returns its peak RSS and wall time."""
    request = json.dumps({"dataset_dir": dataset_dir, "run_dir": run_dir, "steps": steps,
                          "intra": intra, "inter": inter})
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, request], check=True,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = round(seconds, 1)
    return result


def memory_child() -> None:
    """Trains a bounded `cpu`-profile run through the trainer component; prints peak RSS as JSON.

    Reads its request (dataset_dir, run_dir, steps, intra, inter) as JSON from argv[1]. The run is
    the cpu profile's CIFAR-100 fine-label recipe cut to one epoch of `steps` steps, evaluated on
    the whole test split.
    """
    request = json.loads(sys.argv[1])
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    tf.config.threading.set_intra_op_parallelism_threads(request["intra"])
    tf.config.threading.set_inter_op_parallelism_threads(request["inter"])
    from components.trainer import executor  # pylint: disable=g-import-not-at-top
    from pipelines.profiles import get_profile  # pylint: disable=g-import-not-at-top

    cfg = get_profile("cpu").recipe_for("cifar100").experiment("fine")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, epochs=1, warmup_epochs=0.0, max_steps_per_epoch=request["steps"]))
    executor.run(cfg, {"examples": request["dataset_dir"]}, {"model": request["run_dir"]})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"peak_rss_bytes": peak, "peak_rss_gib": peak / 2 ** 30,
                      "steps": request["steps"], "model": cfg.model.name,
                      "width": cfg.model.width, "batch": cfg.data.batch_size}))
