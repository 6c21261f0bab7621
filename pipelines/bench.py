"""`make bench`: speed figures of lg_keras against this machine's limit and the authors' framework.

    python -m pipelines.bench --out bench/latest.json [--quick]

Every figure is a ratio of two measurements taken in the same run, back to back, because the
machine is shared and absolute speeds drift by 2x and more (FACTS.md):

1. Training throughput of the thin (width 16) and full (width 64) PreActResNet18, 32 x 32, batch
   128 (`bench_compute`), as counted GFLOP/s over the GFLOP/s of a large float32 matmul.
2. The same networks in PyTorch, kuangliu's code (`bench_torch`, a worker process with the same
   thread counts): our images/s over PyTorch's. Stages 1 and 2 run in rounds, each round
   matmul, Keras thin, PyTorch thin, Keras full, PyTorch full, matmul; each figure keeps its best
   round (the least disturbed by other load) and the per-round values are kept too. On a CPU
   with native bfloat16 (AMX), each round also trains the thin network in mixed bfloat16, as the
   cpu profile does there: `bfloat16_vs_float32_thin`.
3. The reader (`bench_input`): records/s over thin-network training images/s, and the fraction of
   a training epoch spent waiting for input.
4. The Beam builder over a plain loop doing the same work (`bench_build`).
5. The planner: runs the `cpu` profile executes over the runs its experiments would need alone.
6. Peak resident memory of a bounded `cpu`-profile training run, in a subprocess.
7. On a GPU only: epoch time of the paper's CIFAR-10 network in mixed precision.

Datasets: CIFAR-100 from $LG_DATA_DIR/cifar-100-binary.tar.gz (or the extracted folder) when
there, else a generated folder of 60,000 32 x 32 PNGs (noted in the output); --quick always
uses a tiny generated set and small sizes (a smoke test of the machinery, not a measurement).
"""

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from lg_keras import machine
from pipelines.bench_readings import ratio

HEADLINE = ("utilisation_full", "utilisation_thin", "vs_pytorch_full", "vs_pytorch_thin",
            "bfloat16_vs_float32_thin", "input_wait_fraction", "reader_vs_thin_training", "beam_vs_plain",
            "planner_run_ratio", "peak_rss_gib")
# (headline key, comparison, bound): the targets.
TARGETS = (("utilisation_full", ">=", 0.6), ("vs_pytorch_full", ">=", 1.0),
           ("vs_pytorch_thin", ">=", 1.0), ("input_wait_fraction", "<", 0.05),
           ("reader_vs_thin_training", ">=", 10.0), ("beam_vs_plain", "<=", 1.5),
           ("planner_run_ratio", "<=", 0.6), ("peak_rss_gib", "<", 4.0))


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much each stage measures (bounded so `make bench` ends within 15 minutes here)."""

    batch: int = 128
    rounds: int = 2
    matmul_size: int = 4096
    matmul_reps: int = 4
    thin_steps: int = 20
    full_steps: int = 6
    max_seconds: float = 15.0  # per timed measurement; only a loaded machine reaches it
    warmup: int = 2
    generated: tuple[int, int, int] = (100, 500, 100)  # classes, train and test per class
    wait_steps: int = 25
    memory_steps: int = 10


FULL = Sizes()
QUICK = Sizes(batch=8, rounds=1, matmul_size=512, matmul_reps=2, thin_steps=2, full_steps=1,
              warmup=1, generated=(4, 12, 2), wait_steps=2, memory_steps=0)


# --------------------------------------------------------------------------- stages 1 and 2

class TorchWorker:
    """The `bench_torch` worker process (or None figures when PyTorch is not installed)."""

    def __init__(self, threads: int, interop_threads: int):
        self.info, self._proc = None, None
        if importlib.util.find_spec("torch") is None:
            return
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.bench_torch", "--threads", str(threads),
             "--interop-threads", str(interop_threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self._proc.stdout.readline())

    def train(self, **request) -> dict | None:
        """Times PyTorch training steps (`bench_torch.train_throughput` arguments)."""
        if self._proc is None:
            return None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def close(self) -> None:
        """Ends the worker (idempotent)."""
        if self._proc is not None:
            self._proc.communicate("\n", timeout=60)
            self._proc = None


def _best(rounds, key):
    values = [r[key]["images_per_second"] for r in rounds if r.get(key)]
    return max(values) if values else None


def measure_compute(sizes: Sizes, torch_worker: TorchWorker, out: dict) -> dict:
    """Stages 1-2: rounds of matmul, Keras and PyTorch training; returns the Keras benches."""
    from pipelines import bench_compute  # pylint: disable=g-import-not-at-top

    benches = {"thin": bench_compute.KerasBench(16, sizes.batch),
               "full": bench_compute.KerasBench(64, sizes.batch)}
    steps = {"thin": sizes.thin_steps, "full": sizes.full_steps, "thin_bfloat16": sizes.thin_steps}
    # The cpu profile trains in mixed bfloat16 where the CPU computes it natively (AMX).
    bfloat16 = (bench_compute.KerasBench(16, sizes.batch, policy="mixed_bfloat16")
                if machine.native_bfloat16() else None)
    rounds = []
    for i in range(sizes.rounds):
        warmup = sizes.warmup if i == 0 else 1
        row = {"matmul_gflops": [bench_compute.matmul_gflops(sizes.matmul_size, sizes.matmul_reps)]}
        for name, bench in benches.items():
            row[f"keras_{name}"] = bench.images_per_second(steps[name], warmup,
                                                           sizes.max_seconds)
            row[f"torch_{name}"] = torch_worker.train(width=bench.width, batch=sizes.batch,
                                                      steps=steps[name], warmup=warmup,
                                                      max_seconds=sizes.max_seconds)
        if bfloat16 is not None:
            row["keras_thin_bfloat16"] = bfloat16.images_per_second(
                steps["thin_bfloat16"], warmup, sizes.max_seconds)
        row["matmul_gflops"].append(
            bench_compute.matmul_gflops(sizes.matmul_size, sizes.matmul_reps))
        row["loadavg"] = os.getloadavg()[0]
        rounds.append(row)
        logging.info("compute round %d: %s", i + 1, {
            k: round(v["images_per_second"], 1) if isinstance(v, dict) else v
            for k, v in row.items()})
    peak = max(g for r in rounds for g in r["matmul_gflops"])
    out["compute"] = {"matmul_size": sizes.matmul_size, "matmul_gflops_best": peak,
                      "batch": sizes.batch, "rounds": rounds, "torch": torch_worker.info}
    for name, bench in benches.items():
        keras_best, torch_best = _best(rounds, f"keras_{name}"), _best(rounds, f"torch_{name}")
        train_flops = 3 * bench.flops_per_image
        gflops = keras_best * train_flops / 1e9
        out["compute"][name] = {
            "width": bench.width, "forward_flops_per_image": bench.flops_per_image,
            "train_flops_per_image": train_flops, "keras_images_per_second": keras_best,
            "keras_gflops": gflops, "torch_images_per_second": torch_best}
        out[f"utilisation_{name}"] = ratio(gflops, peak)
        out[f"vs_pytorch_{name}"] = ratio(keras_best, torch_best)
    thin_bfloat16 = _best(rounds, "keras_thin_bfloat16")
    out["compute"]["thin_bfloat16_images_per_second"] = thin_bfloat16
    out["bfloat16_vs_float32_thin"] = ratio(thin_bfloat16, _best(rounds, "keras_thin"))
    if bfloat16 is None:
        out["notes"].append("This CPU has no native bfloat16 (AMX or AVX512-BF16): "
                            "bfloat16_vs_float32_thin is null and the cpu profile trains in "
                            "float32.")
    if torch_worker.info is None:
        out["notes"].append("PyTorch is not installed (pip install '.[bench]'): vs_pytorch_* "
                            "are null.")
    return benches


# --------------------------------------------------------------------------- stages 3 and 4

def build_config(sizes: Sizes, work: str, quick: bool, out: dict):
    """The dataset to build: CIFAR-100 from LG_DATA_DIR, else a generated PNG folder."""
    from lg_keras.config import BuildConfig  # pylint: disable=g-import-not-at-top
    from pipelines import bench_build  # pylint: disable=g-import-not-at-top

    data_dir = os.environ.get("LG_DATA_DIR", "")
    if not quick and data_dir and any(os.path.exists(os.path.join(data_dir, name)) for name in (
            "cifar-100-binary.tar.gz", "cifar-100-binary")):
        out["dataset"] = f"CIFAR-100 (60,000 images) from LG_DATA_DIR={data_dir}"
        return BuildConfig(dataset="cifar100", hierarchy="cifar100"), [data_dir]
    classes, train, test = sizes.generated
    hierarchy = bench_build.write_png_folder(os.path.join(work, "generated"), classes, train, test,
                                             num_coarse=max(2, classes // 5))
    out["dataset"] = (f"generated: {classes * (train + test):,} 32x32 PNGs in {classes} classes "
                      f"(LG_DATA_DIR has no CIFAR-100{'; --quick' if quick else ''})")
    out["notes"].append(f"Dataset figures use a generated dataset, not CIFAR-100: "
                        f"{out['dataset']}.")
    return BuildConfig(dataset=f"folder:{os.path.join(work, 'generated', 'images')}",
                       hierarchy=hierarchy), []


def measure_input(sizes: Sizes, thin, dataset_dir: str, out: dict) -> None:
    """Stage 3: reader records/s against thin training, and the input wait of training."""
    from pipelines import bench_input  # pylint: disable=g-import-not-at-top

    reader = bench_input.reader_throughput(dataset_dir, sizes.batch)
    training = thin.images_per_second(sizes.thin_steps, 1, sizes.max_seconds)
    wait = bench_input.input_wait(dataset_dir, sizes.batch, sizes.wait_steps, sizes.warmup)
    steady = sum(wait["step_seconds"]) / len(wait["step_seconds"])  # wait_steps >= 1 steps
    mean_wait = sum(wait["wait_seconds"]) / len(wait["wait_seconds"])
    stall, n = reader["first_batch_seconds"][-1], wait["steps_per_epoch"] - 1
    out["input"] = {"reader": reader, "thin_synthetic": training, "wait": wait,
                    "epoch_start_stall_seconds": stall, "steady_wait_fraction": ratio(mean_wait, steady),
                    "run_start_seconds": reader["setup_seconds"] + reader["first_batch_seconds"][0],
                    "real_vs_synthetic_training": ratio(wait["images_per_second"],
                                                        training["images_per_second"])}
    out["reader_vs_thin_training"] = ratio(reader["records_per_second"][-1],
                                           training["images_per_second"])
    # One later epoch: its start-up stall (timed on the reader alone, so an upper bound) plus
    # steps_per_epoch - 1 steady steps. The run's one-off start (reading the split) is reported
    # apart, as run_start_seconds.
    out["input_wait_fraction"] = ratio(stall + n * mean_wait, stall + n * steady)


# --------------------------------------------------------------------------- stages 5 to 7

def measure_planner(out: dict) -> None:
    """Stage 5: runs the cpu profile executes / runs of its experiments planned alone."""
    from pipelines import planner  # pylint: disable=g-import-not-at-top

    executed = len(planner.plan("cpu").runs)
    merged = len(planner.plan("cpu", budget_hours=None).runs)
    alone = planner.independent_run_count("cpu")
    out["planner"] = {"executed_runs": executed, "merged_runs_without_budget": merged,
                      "independent_runs": alone, "merge_only_ratio": ratio(merged, alone)}
    out["planner_run_ratio"] = ratio(executed, alone)


def _gpu_utilisation() -> float | None:
    """The first GPU's utilisation in [0, 1] from nvidia-smi, or None without nvidia-smi."""
    try:
        text = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True,
                              check=True, timeout=10).stdout
    except (FileNotFoundError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return float(text.split()[0]) / 100.0


def measure_gpu(sizes: Sizes, out: dict, devices: list | None = None, width: int = 64) -> None:
    """Stage 7, on a GPU only: the paper's CIFAR-10 network in mixed precision.

    Epoch time = 50,000 / training images/s (synthetic batches, so no input cost), and the mean of
    nvidia-smi's utilisation sampled every half second while it trains.

    Args:
        sizes: the bench sizes (batch, steps, time cap).
        out: the report dict; gets 'gpu' and possibly a note.
        devices: the devices to measure on (None: the physical GPUs). No GPU runs in this project's
            CI, so a test passes the CPU to run the stage's code path there.
        width: the network's base width (64: the paper's CIFAR-10 network).
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from pipelines import bench_compute  # pylint: disable=g-import-not-at-top

    gpus = tf.config.list_physical_devices("GPU") if devices is None else devices
    out["gpu"] = {"devices": len(gpus), "epoch_seconds": None, "gpu_utilisation": None}
    if not gpus:
        out["notes"].append("No GPU on this machine: the mixed-precision CIFAR-10 epoch time and "
                            "GPU utilisation (stage 7) are skipped.")
        return
    bench = bench_compute.KerasBench(width, sizes.batch, policy="mixed_float16")
    samples, stop = [], threading.Event()

    def sample():
        while not stop.wait(0.5):
            samples.append(_gpu_utilisation())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = bench.images_per_second(10 * sizes.full_steps, 5, sizes.max_seconds)
    finally:
        stop.set()
        sampler.join()
    measured = [u for u in samples if u is not None]
    details = tf.config.experimental.get_device_details(gpus[0])
    out["gpu"].update({"name": details.get("device_name"),
                       "images_per_second": result["images_per_second"],
                       "epoch_seconds": ratio(50_000, result["images_per_second"]),
                       "gpu_utilisation": sum(measured) / len(measured) if measured else None})


# --------------------------------------------------------------------------- report

def _versions() -> dict:
    names = ("tensorflow", "tensorflow-cpu", "keras", "torch", "apache-beam", "numpy", "lg_keras")
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    return found


def _machine() -> dict:
    return {**machine.describe(), "loadavg_at_start": os.getloadavg()}


def format_table(out: dict) -> str:
    """The headline figures with their targets, one line each."""
    lines = [f"{'figure':26s} {'value':>10s}  target     met"]
    for key in HEADLINE:
        value = out.get(key)
        target = next(((op, bound) for k, op, bound in TARGETS if k == key), None)
        met = "" if target is None or value is None else (
            "yes" if (value >= target[1] if target[0] == ">=" else
                      value <= target[1] if target[0] == "<=" else value < target[1]) else "NO")
        text = "null" if value is None else f"{value:.3f}"
        bound = "" if target is None else f"{target[0]} {target[1]:g}"
        lines.append(f"{key:26s} {text:>10s}  {bound:9s}  {met}")
    return "\n".join(lines)


def run(out_path: str, sizes: Sizes, quick: bool, threads: int, inter: int) -> dict:
    """Runs every stage and writes the JSON report to out_path; returns it."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    start = time.perf_counter()
    out = {key: None for key in HEADLINE}
    out.update({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "quick": quick, "machine": _machine(), "versions": _versions(),
                "threads": {"intra_op": threads, "inter_op": inter}, "notes": [],
                "sizes": dataclasses.asdict(sizes), "stage_seconds": {}})
    work = tempfile.mkdtemp(prefix="lg-bench-")
    worker = TorchWorker(threads, inter)
    try:
        def stage(name, fn, *args):
            t = time.perf_counter()
            result = fn(*args)
            out["stage_seconds"][name] = round(time.perf_counter() - t, 1)
            return result

        benches = stage("compute", measure_compute, sizes, worker, out)
        worker.close()
        from pipelines import bench_build, bench_input  # pylint: disable=g-import-not-at-top
        cfg, data_dirs = build_config(sizes, work, quick, out)
        out["build"] = stage("build", bench_build.compare_builds, cfg, data_dirs, work)
        out["beam_vs_plain"] = out["build"]["beam_vs_plain"]
        dataset_dir = out["build"]["dataset_dir"]
        stage("input", measure_input, sizes, benches["thin"], dataset_dir, out)
        stage("planner", measure_planner, out)
        if sizes.memory_steps:
            out["memory"] = stage("memory", bench_input.peak_memory, dataset_dir,
                                  os.path.join(work, "run"), sizes.memory_steps, threads, inter)
            out["peak_rss_gib"] = out["memory"]["peak_rss_gib"]
        else:
            out["notes"].append("--quick: peak memory (stage 6) is not measured.")
        measure_gpu(sizes, out)
    finally:
        worker.close()
        shutil.rmtree(work, ignore_errors=True)
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    load = max(out["machine"]["loadavg_at_start"][0], out["machine"]["loadavg_at_end"][0])
    if load > out["machine"]["cores"]:
        out["notes"].append(
            f"The machine was shared (load average {load:.1f} on {out['machine']['cores']} cores): "
            "absolute speeds are low and noisy; only the ratios, each taken back to back, mean "
            "much. PyTorch's OpenMP threads lose more than TensorFlow's to oversubscription, so "
            "vs_pytorch_* are inflated on a loaded machine.")
    out["seconds"] = round(time.perf_counter() - start, 1)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    return out


def main(argv=None) -> int:
    """Entry point: parses flags, runs the bench, prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/latest.json", help="JSON report path")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: checks the machinery in about a minute, no measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="intra-op threads of TensorFlow and torch.set_num_threads")
    parser.add_argument("--inter-op-threads", type=int, default=1,
                        help="inter-op threads of TensorFlow and torch.set_num_interop_threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = run(args.out, QUICK if args.quick else FULL, args.quick, args.threads,
              args.inter_op_threads)
    print(format_table(out))
    for note in out["notes"]:
        print(f"note: {note}")
    print(f"bench: {out['seconds']:.0f} s, load average {out['machine']['loadavg_at_start'][0]:.1f}"
          f" at start, {out['machine']['loadavg_at_end'][0]:.1f} at end; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
