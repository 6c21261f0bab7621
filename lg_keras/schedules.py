"""Learning-rate schedules in optimizer steps, as serialisable Keras `LearningRateSchedule`s.

Every schedule is a function of the optimizer step k = 0, 1, ..., total_steps - 1 (the value the
optimizer passes is its `iterations` counter: update k uses lr(k)). Defining them in steps, not
epochs, is what keeps a data-fraction run comparable (paper Fig. 2): a run on fraction f trains
ceil(epochs / f) epochs of about f times as many steps, so `total_steps` and every boundary stay at
the same update count.

- 'step' (the authors' code): lr, multiplied by `factor` after each boundary. The CIFAR-10 code cuts
  once by 10 at epoch int(150 / f) of int(200 / f), i.e. at 3/4 of the steps (`lr_drop_at=(0.75,)`).
- 'warmup_cosine': linear warm-up to lr over the warm-up steps, then a cosine decay to 0 at
  total_steps (for short CPU runs, FACTS.md).
- 'constant': lr throughout.
- 'milestones' (the authors' regimes, `TrainConfig.lr_milestones`): lr multiplied by each
  milestone's factor from the first step of its epoch, the epoch scaled to the data fraction as
  the authors did (int(E // f), `ExperimentConfig.scaled_epoch`). CIFAR-100: ((60, 0.2),
  (120, 0.2), (160, 0.2)) gives 0.1, 0.02, 0.004, 0.0008 as their regime dict.

    schedule = run_schedule(cfg, steps_per_epoch)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
"""

import math
from collections.abc import Sequence

import keras
from keras import ops

from lg_keras.config import ExperimentConfig, TrainConfig


@keras.saving.register_keras_serializable(package="lg_keras")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr * factor ** (number of boundaries b with step >= b).

    Example:
        schedule = StepDecay(0.1, boundaries=[750], factor=0.1)
        float(schedule(749)), float(schedule(750))  # 0.1, 0.01

    Args:
        learning_rate: the initial learning rate.
        boundaries: increasing optimizer steps at which the rate is multiplied by `factor`.
        factor: the multiplier of each cut.
    """

    def __init__(self, learning_rate, boundaries, factor=0.1):
        self.learning_rate = float(learning_rate)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cuts = ops.zeros((), "float32")
        for boundary in self.boundaries:
            cuts = cuts + ops.cast(step >= boundary, "float32")
        return self.learning_rate * ops.power(ops.cast(self.factor, "float32"), cuts)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "boundaries": list(self.boundaries),
                "factor": self.factor}


@keras.saving.register_keras_serializable(package="lg_keras")
class MilestoneDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr times the product of the factors of every boundary b with step >= b.

    Example:
        schedule = MilestoneDecay(0.1, boundaries=[600, 1200], factors=[0.2, 0.2])
        float(schedule(599)), float(schedule(600)), float(schedule(1200))  # 0.1, 0.02, 0.004

    Args:
        learning_rate: the initial learning rate.
        boundaries: increasing optimizer steps, each the first step of a milestone's epoch.
        factors: the multiplier that takes effect at each boundary (same length).
    """

    def __init__(self, learning_rate, boundaries, factors):
        if len(boundaries) != len(factors):
            raise ValueError(f"MilestoneDecay needs one factor per boundary; got {len(boundaries)} "
                             f"boundaries and {len(factors)} factors.")
        self.learning_rate = float(learning_rate)
        self.boundaries = [int(b) for b in boundaries]
        self.factors = [float(f) for f in factors]

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = ops.convert_to_tensor(self.learning_rate, "float32")
        for boundary, factor in zip(self.boundaries, self.factors):
            rate = ops.where(step >= boundary, rate * factor, rate)
        return rate

    def get_config(self):
        return {"learning_rate": self.learning_rate, "boundaries": list(self.boundaries),
                "factors": list(self.factors)}


@keras.saving.register_keras_serializable(package="lg_keras")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over `warmup_steps`, then cosine decay from lr to 0 at `total_steps`.

    During warm-up update k uses lr * (k + 1) / warmup_steps (the first update is not wasted on a
    zero rate; the last warm-up update uses lr). After it, update k uses
    lr * (1 + cos(pi * (k - warmup_steps) / (total_steps - warmup_steps))) / 2; steps past
    total_steps use 0.

    Example:
        schedule = WarmupCosine(0.1, warmup_steps=10, total_steps=100)
        float(schedule(9)), float(schedule(55))  # 0.1, 0.05

    Args:
        learning_rate: the peak learning rate.
        warmup_steps: length of the warm-up (0: none).
        total_steps: total optimizer steps of the run (> warmup_steps).
    """

    def __init__(self, learning_rate, warmup_steps, total_steps):
        if not 0 <= int(warmup_steps) < int(total_steps):
            raise ValueError(f"WarmupCosine needs 0 <= warmup_steps < total_steps; got "
                             f"warmup_steps={warmup_steps}, total_steps={total_steps}.")
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.learning_rate * (step + 1.0) / max(self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / (self.total_steps - self.warmup_steps),
                            0.0, 1.0)
        cosine = self.learning_rate * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}


@keras.saving.register_keras_serializable(package="lg_keras")
class Constant(keras.optimizers.schedules.LearningRateSchedule):
    """The same learning rate at every step.

    Example:
        schedule = Constant(0.1)
        float(schedule(12345))  # 0.1

    Args:
        learning_rate: the learning rate.
    """

    def __init__(self, learning_rate):
        self.learning_rate = float(learning_rate)

    def __call__(self, step):
        del step  # unused: the rate does not change
        return ops.convert_to_tensor(self.learning_rate, "float32")

    def get_config(self):
        return {"learning_rate": self.learning_rate}


def run_schedule(cfg: ExperimentConfig,
                 steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """The schedule of one run: `cfg.epochs_to_run()` epochs of `steps_per_epoch` steps, with the
    'milestones' epochs scaled to the run's data fraction by `cfg.scaled_epoch`."""
    milestone_steps = [cfg.scaled_epoch(epoch) * steps_per_epoch
                       for epoch, _ in cfg.train.lr_milestones]
    return build_schedule(cfg.train, cfg.epochs_to_run() * steps_per_epoch, milestone_steps)


def build_schedule(train_cfg: TrainConfig, total_steps: int,
                   milestone_steps: Sequence[int] | None = None,
                   ) -> keras.optimizers.schedules.LearningRateSchedule:
    """The schedule `train_cfg.schedule` names, laid out over `total_steps` optimizer steps.

    Boundaries and the warm-up are proportions of the run: the 'step' cuts fall at
    round(total_steps * d) for each d in `lr_drop_at`, and the warm-up lasts
    round(total_steps * warmup_epochs / epochs) steps (`warmup_epochs` counts full-data epochs,
    like `epochs`), so a data fraction changes neither.

    Args:
        train_cfg: the recipe (schedule, learning_rate, lr_drop_at, lr_drop_factor,
            warmup_epochs, epochs, lr_milestones).
        total_steps: epochs_to_run * steps_per_epoch, >= 1.
        milestone_steps: 'milestones' only: the first optimizer step of each milestone's epoch in
            this run (`run_schedule` computes them).

    Returns:
        A `StepDecay`, `WarmupCosine`, `Constant` or `MilestoneDecay` schedule.
    """
    assert total_steps >= 1, total_steps
    lr = train_cfg.learning_rate
    if train_cfg.schedule == "step":
        boundaries = [round(total_steps * d) for d in train_cfg.lr_drop_at]
        return StepDecay(lr, boundaries, train_cfg.lr_drop_factor)
    if train_cfg.schedule == "warmup_cosine":
        warmup = round(total_steps * train_cfg.warmup_epochs / train_cfg.epochs)
        return WarmupCosine(lr, min(warmup, total_steps - 1), total_steps)
    if train_cfg.schedule == "milestones":
        if milestone_steps is None or len(milestone_steps) != len(train_cfg.lr_milestones):
            raise ValueError(f"The 'milestones' schedule needs the step of each of its "
                             f"{len(train_cfg.lr_milestones)} milestones; got {milestone_steps!r}.")
        return MilestoneDecay(lr, milestone_steps, [f for _, f in train_cfg.lr_milestones])
    assert train_cfg.schedule == "constant", train_cfg.schedule
    return Constant(lr)
