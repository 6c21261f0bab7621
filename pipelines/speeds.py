"""Training speeds behind the printed time estimates: the fixed constants, or this machine's bench.

The planner orders and budgets a plan with fixed speeds (each network's throughput formula in the
model registry, `lg_keras.models`, relative to the thin network's `THIN_TRAIN_IMAGES_PER_S`, and
`BFLOAT16_SPEEDUP`; `pipelines.estimates` turns speeds into times), so which runs a plan holds, and
the estimates plan.json records, never depend on the host. The printed estimates
(`planner.format_plan`: `lg reproduce --dry-run`, `lg study --dry-run`, the plan printed before a
run) may use measured speeds instead: `make bench`'s report, bench/latest.json, when a full bench
run (not --quick, batch 128) measured it on a machine with this CPU model and core count. The
measured thin-network training speed scales every network's formula; the measured bfloat16 /
float32 ratio replaces `BFLOAT16_SPEEDUP` when the CPU has native bfloat16.

    speeds = read_bench()  # FIXED, or bench/latest.json's figures for this machine
    print(speeds.source)   # 'bench/latest.json measured 2026-11-29 (...)' or 'the fixed constants'
"""

import dataclasses
import json
import math
import os

from lg_keras import machine, models

# The bench report `make bench` writes (pipelines.bench), at the repository's root.
BENCH_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                          "latest.json")
# Training images/s of the thin network (preact_resnet18 width 16, 32 x 32, float32, batch 128)
# on the reference 2-core CPU: the model registry's reference (FACTS.md).
THIN_TRAIN_IMAGES_PER_S = models.PREACT_RESNET18_W16_IMAGES_PER_S
# Mixed bfloat16 on this CPU's AMX units (train.mixed_precision 'bfloat16'): 650 -> 950 images/s
# for the thin network on a synthetic batch (2026-11-29, paired probe), input pipeline excluded.
BFLOAT16_SPEEDUP = 1.45
# The batch the constants (and the bench's compute stage) are measured at.
REFERENCE_BATCH = 128


@dataclasses.dataclass(frozen=True)
class Speeds:
    """The speeds an estimate uses.

    Attributes:
        thin_images_per_s: training images/s of the thin network (32 x 32, float32, batch 128);
            every network's registry formula is scaled by its ratio to THIN_TRAIN_IMAGES_PER_S.
        bfloat16_speedup: training speed in mixed bfloat16 over float32.
        source: where they come from, for the printed plan.
        measured: whether they come from a bench report.
    """

    thin_images_per_s: float
    bfloat16_speedup: float
    source: str
    measured: bool = False

    @property
    def scale(self) -> float:
        """Factor on every network's fixed throughput (exactly 1.0 for the fixed constants)."""
        return self.thin_images_per_s / THIN_TRAIN_IMAGES_PER_S


FIXED = Speeds(THIN_TRAIN_IMAGES_PER_S, BFLOAT16_SPEEDUP,
               "the fixed constants (lg_keras.models, pipelines/speeds.py)")


def _positive(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and value > 0:
        return float(value)
    return None


def _display(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _fixed(why: str) -> Speeds:
    return dataclasses.replace(FIXED, source=f"{FIXED.source}; {why}")


def read_bench(path: str = BENCH_FILE, host: tuple[str, int] | None = None) -> Speeds:
    """The speeds measured by `make bench` on this machine, else FIXED (saying why).

    Args:
        path: a bench report (pipelines.bench's JSON).
        host: (CPU model, cores) the report must have been measured on; None: this machine's
            (`lg_keras.machine.cpu_model()`, `os.cpu_count()`).

    Returns:
        Measured Speeds when the report exists, is a full run at batch 128 on `host` and holds
        the thin network's training speed; else FIXED, whose source names the reason when a
        report exists.
    """
    if not os.path.exists(path):
        return FIXED
    name = _display(path)
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        return _fixed(f"{name} is unreadable ({e})")
    if not isinstance(report, dict):
        return _fixed(f"{name} is not a bench report")
    cpu, cores = host or (machine.cpu_model(), os.cpu_count())
    measured_on = report.get("machine") or {}
    if (measured_on.get("cpu"), measured_on.get("cores")) != (cpu, cores):
        return _fixed(f"{name} was measured on another machine ({measured_on.get('cpu')}, "
                      f"{measured_on.get('cores')} cores; this one: {cpu}, {cores} cores)")
    if report.get("quick") or (report.get("sizes") or {}).get("batch") != REFERENCE_BATCH:
        return _fixed(f"{name} is a --quick run or not at batch {REFERENCE_BATCH}")
    thin = _positive(((report.get("compute") or {}).get("thin") or {})
                     .get("keras_images_per_second"))
    if thin is None:
        return _fixed(f"{name} holds no thin-network training speed")
    bfloat16 = _positive(report.get("bfloat16_vs_float32_thin"))
    date = str(report.get("date") or "on an unknown date")[:10]
    ratio = f", bfloat16 {bfloat16:.2f}x" if bfloat16 else ""
    return Speeds(thin, bfloat16 or BFLOAT16_SPEEDUP,
                  f"{name} measured {date} (thin network {thin:.0f} images/s{ratio})",
                  measured=True)
