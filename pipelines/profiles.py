"""Profiles: how big `lg reproduce` runs the paper's experiments (sizes only, never code paths).

Every profile runs the same experiments through the same components: the same datasets, label
views, heads and evaluations. A profile only says how large: the network and schedule of each
dataset family, how many examples per class a build keeps, how many seeds, which Fig. 2 fractions,
which Table VI rows, and the run budget the planner enforces.

- smoke: every experiment at toy size (24 training and 10 test images per class, width-4 network,
  1 epoch). Checks that everything runs end to end, in minutes; its numbers mean nothing.
- cpu: the default of `make reproduce`; sized for under 10 hours on 2 CPU cores (a width-16
  CIFAR-10 run of 12 epochs took about 13 minutes here in mixed bfloat16, 18 in float32,
  evaluation included). See `trims` for what
  it leaves out.
- paper: the authors' code's recipe per family (enyac-group/Label-Granularity main_f2c*.py:
  batch, regime, weight decay, epochs int(E // f), PyTorch 0.3 initialisation, momentum restarted
  every epoch, their normalisation constants), every dataset, fraction and row, 3 seeds; days on
  a GPU.

    from pipelines.profiles import get_profile
    profile = get_profile("cpu")
    profile.recipe_for("cifar100").experiment("fine", seed=0)

The cpu profile trains in mixed bfloat16 where the CPU computes it natively. `PROFILES` holds the
profiles as declared, with that rule unresolved (train.mixed_precision 'native_bfloat16', which the
trainer decides where it runs): what a compiled pipeline carries (`get_profile(name,
portable=True)`). `get_profile(name)` resolves it on this machine at plan time ('bfloat16' or
'auto'), as `lg reproduce` always has, so its runs keep their config hashes.
"""

import dataclasses
import types

from lg_keras import dataset_table, machine, models
from lg_keras.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.dataset_table import FAMILIES
from lg_keras.errors import ConfigError


def family_of(dataset_key: str) -> str:
    """The recipe family of a dataset key, from the dataset table: CIFAR-10 and Fashion-MNIST use
    CIFAR-10's network, the CIFAR-100 subsets CIFAR-100's, the ImageNet subsets their thin network
    (paper Table III).

    Raises:
        ConfigError: for an unknown key, listing the known ones.
    """
    return dataset_table.dataset_entry(dataset_key).family


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How one dataset family is trained in a profile.

    Attributes:
        model: the network (a linear head; experiments replace the head).
        train: the optimisation recipe (experiments replace the seed).
        batch_size: global batch size.
        image_size: model input size; 0 keeps the stored size (CIFAR, Fashion-MNIST).
        normalize: per-channel normalisation ('dataset' or 'imagenet').
    """

    model: ModelConfig
    train: TrainConfig
    batch_size: int = 128
    image_size: int = 0
    normalize: str = "dataset"

    def experiment(self, labels: str, *, seed: int = 0, fraction: float = 1.0,
                   head: str = "linear") -> ExperimentConfig:
        """The ExperimentConfig of one run of this recipe (data.dataset_dir set by the runner).

        Args:
            labels: training label view ('fine', 'coarse', 'fine_noise_<r>').
            seed: training seed.
            fraction: class-balanced fraction of the training split (Fig. 2).
            head: 'linear', 'extra_layer' (Table IV) or 'dropout' (Table V).
        """
        # A fraction f trains epochs / f epochs; evaluating every round(1 / f) of them keeps the
        # number of test passes (and their cost) that of a full-data run.
        eval_every = self.train.eval_every and max(1, round(self.train.eval_every / fraction))
        return ExperimentConfig(
            data=DataConfig(labels=labels, fraction=fraction, image_size=self.image_size,
                            normalize=self.normalize, batch_size=self.batch_size),
            model=dataclasses.replace(self.model, head=head),
            train=dataclasses.replace(self.train, seed=seed, eval_every=eval_every))


@dataclasses.dataclass(frozen=True)
class Profile:
    """The sizes of one `lg reproduce` profile.

    Attributes:
        name: 'smoke', 'cpu' or 'paper'.
        summary: one line for `lg reproduce --help` and the plan printout.
        cifar10: recipe of CIFAR-10, its Table VI variants and Fashion-MNIST.
        cifar100: recipe of CIFAR-100 and its coarse subsets (animals, 5, 15).
        imagenet: recipe of the ImageNet subsets.
        seeds: training seeds per setting.
        pair_seeds: seeds of Table I's CIFAR-10 fine vs. coarse pair (its gap is small: 0.78
            points in the paper, so it needs an interval).
        claim_seeds: seeds of the other pairs whose claim needs an interval (Table I's CIFAR-100
            and CIFAR-100-animals pairs, Table VIII's 5- and 15-class pairs, Table VII at r = 0.1
            and 0.3 for both noise kinds); at most `seeds` adds none. The seeds past `seeds`
            rank below every paper table (priority 8): they run by name, or in what a budget
            leaves over.
        memorisation_factor: Table VII's memorisation check trains a clean and an r = 0.3 fine
            network for this many times the recipe's epochs (1: the recipe's epochs are long
            enough, as the paper's 200 are; the check's runs are then Table VII's own).
        fractions: Fig. 2's training-data fractions (1.0 is Table I's run).
        fraction_datasets: dataset keys that get Fig. 2's reduced-fraction runs.
        table6_rows: Table VI rows (1-10) with a coarse-trained run; the fine-trained CIFAR-10
            run is scored under all ten mappings whatever this says.
        max_train_per_class: BuildConfig.max_train_per_class (None keeps all).
        max_test_per_class: BuildConfig.max_test_per_class (None keeps all).
        embedding_examples: test images in the evaluator's t-SNE and projector (Fig. 4).
        budget_hours: estimated hours the planner may schedule (None: no limit); runs past it
            are dropped in priority order and listed as skipped.
    """

    name: str
    summary: str
    cifar10: Recipe
    cifar100: Recipe
    imagenet: Recipe
    seeds: int = 1
    pair_seeds: int = 1
    claim_seeds: int = 1
    memorisation_factor: int = 1
    fractions: tuple[float, ...] = (1.0,)
    fraction_datasets: tuple[str, ...] = ("cifar10",)
    table6_rows: tuple[int, ...] = tuple(range(1, 11))
    max_train_per_class: int | None = None
    max_test_per_class: int | None = None
    embedding_examples: int = 2000
    budget_hours: float | None = None

    def __post_init__(self):
        if not (isinstance(self.seeds, int) and self.seeds >= 1
                and isinstance(self.pair_seeds, int) and self.pair_seeds >= self.seeds
                and isinstance(self.claim_seeds, int) and self.claim_seeds >= 0):
            raise ConfigError(f"Profile {self.name!r}: seeds must be >= 1, pair_seeds >= seeds "
                              f"and claim_seeds >= 0; got seeds={self.seeds!r}, pair_seeds="
                              f"{self.pair_seeds!r}, claim_seeds={self.claim_seeds!r}.")
        if not (isinstance(self.memorisation_factor, int) and self.memorisation_factor >= 1):
            raise ConfigError(f"Profile {self.name!r}: memorisation_factor must be an integer "
                              f">= 1; got {self.memorisation_factor!r}.")
        if 1.0 not in self.fractions or not all(0 < f <= 1 for f in self.fractions):
            raise ConfigError(f"Profile {self.name!r}: fractions must lie in (0, 1] and include "
                              f"1.0; got {self.fractions!r}.")
        if not set(self.table6_rows) <= set(range(1, 11)):
            raise ConfigError(f"Profile {self.name!r}: table6_rows must be in 1..10; got "
                              f"{self.table6_rows!r}.")

    def recipe_for(self, dataset_key: str) -> Recipe:
        """The recipe of a dataset key (see `family_of`).

        The authors' fixed normalisation constants are statistics of their CIFAR source; a dataset
        of another source in the same family (Fashion-MNIST, one channel, in CIFAR-10's) keeps its
        own statistics.
        """
        entry = dataset_table.dataset_entry(dataset_key)
        recipe = getattr(self, entry.family)
        source = _AUTHORS_NORMALIZE_SOURCE.get(recipe.normalize)
        if source is not None and entry.source != source:
            recipe = dataclasses.replace(recipe, normalize="dataset")
        return recipe

    def recipe_lines(self) -> list[str]:
        """One line per family: network, batch, schedule, weight decay, epochs, and the rest."""
        return [f"{family}: {_describe(getattr(self, family))}" for family in FAMILIES]

    def trims(self) -> list[str]:
        """What this profile leaves out or shrinks relative to the paper profile, one line each."""
        paper, lines = PROFILES["paper"], []
        for family in FAMILIES:
            ours, theirs = getattr(self, family), getattr(paper, family)
            if ours != theirs:
                lines.append(f"{family} family: {_describe(ours)} (paper: {_describe(theirs)})")
        if (self.seeds, self.pair_seeds) != (paper.seeds, paper.pair_seeds):
            lines.append(f"seeds: {self.seeds} per setting, {self.pair_seeds} for Table I's "
                         f"CIFAR-10 fine/coarse pair (paper: {paper.seeds})")
        if self.claim_seeds > self.seeds:
            lines.append(f"seeds 2-{self.claim_seeds} of Table I's CIFAR-100 and CIFAR-100-animals "
                         f"pairs, Table VIII's 5- and 15-class pairs and Table VII at r = 0.1, "
                         f"0.3 rank last (priority 8): run them by name, e.g. --only table8")
        if (self.fractions, self.fraction_datasets) != (paper.fractions, paper.fraction_datasets):
            lines.append(f"Fig. 2 fractions {_floats(self.fractions)} on "
                         f"{', '.join(self.fraction_datasets)} only (paper: "
                         f"{_floats(paper.fractions)} on {', '.join(paper.fraction_datasets)})")
        if self.table6_rows != paper.table6_rows:
            lines.append(f"Table VI coarse runs for rows {list(self.table6_rows)} only (the fine "
                         f"run is still scored under all ten mappings)")
        if self.max_train_per_class or self.max_test_per_class:
            lines.append(f"datasets cut to {self.max_train_per_class} train / "
                         f"{self.max_test_per_class} test images per fine class")
        if self.embedding_examples != paper.embedding_examples:
            lines.append(f"t-SNE and projector on {self.embedding_examples} test images "
                         f"(paper profile: {paper.embedding_examples})")
        if self.budget_hours is not None:
            lines.append(f"run budget {self.budget_hours:g} h (estimated on 2 CPU cores): runs "
                         f"past it are skipped, lowest priority first")
        return lines


def _floats(values) -> str:
    return ",".join(f"{v:g}" for v in values)


def describe_recipe(recipe: Recipe) -> str:
    """One line: network, batch, schedule, epochs, input size and the rest (as `lg reproduce
    --dry-run` prints each family's)."""
    return _describe(recipe)


def _describe(recipe: Recipe) -> str:
    m, t = recipe.model, recipe.train
    net = models.model_entry(m.name).describe(m)
    schedule = (f"{t.schedule} ({t.warmup_epochs:g} warm-up)" if t.schedule == "warmup_cosine"
                else f"{t.schedule} at {_floats(t.lr_drop_at)}" if t.schedule == "step"
                else ", ".join(f"x{factor:g} from epoch {epoch}" for epoch, factor in
                               t.lr_milestones) if t.schedule == "milestones"
                else t.schedule)
    size = f", {recipe.image_size} px" if recipe.image_size else ""
    rounding = (" (every epoch E is int(E // f) at fraction f)" if t.epoch_rounding == "floor"
                else "")
    epochs = f"{t.epochs} epoch{'' if t.epochs == 1 else 's'}{rounding}"
    precision = _PRECISION_NAMES[t.mixed_precision]
    extras = [f"weight decay {m.weight_decay:.0e}".replace("e-0", "e-"),
              "SGD momentum restarted each epoch" if t.restart_momentum else "",
              "PyTorch 0.3 init (BN gamma U(0, 1))" if m.init == "authors" else "",
              f"normalise {recipe.normalize}" if recipe.normalize != "dataset" else "",
              f"authors' test protocol ({t.authors_test_passes} random passes per epoch)"
              if t.authors_test_passes else "", precision]
    return (f"{net}, batch {recipe.batch_size}, lr {t.learning_rate:g} {schedule}, {epochs}"
            f"{size}" + "".join(f", {extra}" for extra in extras if extra))


_PRECISION_NAMES = {"auto": "", "on": "mixed float16", "bfloat16": "mixed bfloat16",
                    "off": "float32",
                    "native_bfloat16": "mixed bfloat16 where the CPU computes it natively"}


# --------------------------------------------------------------------------- the paper

# The authors' code wins over the paper's text (FACTS.md, "The authors' recipes per dataset
# family"): each script has its own regime dict, {0: {'optimizer': 'SGD', 'lr': ...,
# 'weight_decay': ..., 'momentum': 0.9}, int(E // f): {'lr': ...}, ...}, over int(E_total // f)
# epochs. So every recipe uses the 'milestones' schedule with floor rounding, restarts the SGD
# momentum each epoch (the regime's 'optimizer' entry rebuilt SGD every epoch), and starts from
# PyTorch 0.3's initialisation. The paper's text says "decays when the loss plateaus" and weight
# decay 5e-4 for every dataset; the code cuts at fixed epochs and uses 1e-4 on ImageNet subsets.
_PAPER_TRAIN = TrainConfig(epochs=200, learning_rate=0.1, momentum=0.9, schedule="milestones",
                           lr_milestones=((150, 0.1),), epoch_rounding="floor",
                           restart_momentum=True)
_PAPER = Profile(
    name="paper",
    summary="the authors' code's recipe per family, every dataset, fraction and row, 3 seeds",
    # main_f2c.py: kuangliu's PreActResNet18 (no BatchNorm-ReLU after the last stage), batch 256,
    # lr 0.1 cut to 0.01 at epoch 150 of 200.
    cifar10=Recipe(model=ModelConfig(name="preact_resnet18", width=64, final_norm=False,
                                     init="authors"),
                   train=_PAPER_TRAIN, batch_size=256, normalize="cifar10_authors"),
    # main_f2c_cifar100.py: WRN-28-10 dropout 0.3, batch 128, lr 0.1, 0.02, 0.004, 0.0008 from
    # epochs 60, 120, 160 of 200.
    cifar100=Recipe(model=ModelConfig(name="wide_resnet", depth=28, widen_factor=10,
                                      block_dropout=0.3, init="authors"),
                    train=dataclasses.replace(
                        _PAPER_TRAIN, lr_milestones=((60, 0.2), (120, 0.2), (160, 0.2))),
                    batch_size=128, normalize="cifar100_authors"),
    # main_f2c_imagenet.py: widest layer 128, batch 32, lr 0.01 cut by 10 at 90, 135, 180, 210
    # of 225 epochs, weight decay 1e-4 (the regime overrides the 5e-4 given to SGD), 224 px,
    # ImageNet mean/std; the test split also scored through the training transform each epoch,
    # 5 random passes (their protocol, reported apart from the centre-crop figures).
    imagenet=Recipe(model=ModelConfig(name="preact_resnet18", width=16, final_norm=False,
                                      weight_decay=1e-4, init="authors"),
                    train=dataclasses.replace(
                        _PAPER_TRAIN, epochs=225, learning_rate=0.01,
                        lr_milestones=((90, 0.1), (135, 0.1), (180, 0.1), (210, 0.1)),
                        authors_test_passes=5),
                    batch_size=32, image_size=224, normalize="imagenet"),
    seeds=3, pair_seeds=3, claim_seeds=3,
    fractions=(0.2, 0.4, 0.6, 0.8, 1.0),
    fraction_datasets=("cifar10", "cifar100", "cifar100_animals", "imagenet_dogcat",
                       "imagenet_fruitveg"),
)

# --------------------------------------------------------------------------- 2 CPU cores

# FACTS.md: width 16, batch 128, 12 epochs (2 warm-up, cosine from 0.1), SGD nesterov 0.9: about
# 13 minutes per CIFAR-10 run here in bfloat16 (18 in float32), and the fine-vs-coarse gap shows.
# Mixed bfloat16 where the CPU computes it natively (about 1.5x faster here, lg_keras/machine.py);
# elsewhere 'auto' (float32 on CPUs). `get_profile` makes that choice at plan time
# (`host_precision`), so it is part of each local run's config and its hash tells them apart.
_CPU_TRAIN = TrainConfig(epochs=12, learning_rate=0.1, momentum=0.9, nesterov=True,
                         schedule="warmup_cosine", warmup_epochs=2,
                         mixed_precision="native_bfloat16")
_THIN = Recipe(model=ModelConfig(name="preact_resnet18", width=16), train=_CPU_TRAIN)
_CPU = Profile(
    name="cpu",
    summary="width-16 networks, 12 epochs, priority-ordered within a 10 h budget on 2 CPU cores",
    cifar10=_THIN,
    cifar100=_THIN,
    # 64 px instead of 224: 12x cheaper; the ImageNet subsets are smaller than CIFAR, so 15 epochs.
    imagenet=dataclasses.replace(_THIN, train=dataclasses.replace(_CPU_TRAIN, epochs=15),
                                 image_size=64, normalize="imagenet"),
    seeds=1, pair_seeds=3, claim_seeds=3, memorisation_factor=4,
    fractions=(0.2, 0.6, 1.0),
    fraction_datasets=("cifar10",),
    budget_hours=10.0,
)

# --------------------------------------------------------------------------- toy size

# One epoch: a toy run's time is mostly fixed costs (tracing, checkpoints, evaluation).
_SMOKE_TRAIN = TrainConfig(epochs=1, learning_rate=0.1, momentum=0.9, nesterov=True,
                           schedule="warmup_cosine", warmup_epochs=0.5)
_TOY = Recipe(model=ModelConfig(name="preact_resnet18", width=4), train=_SMOKE_TRAIN,
              batch_size=32)
_SMOKE = Profile(
    name="smoke",
    summary="every experiment at toy size (24/10 images per class, width 4, 1 epoch): "
            "checks the machinery, not the paper",
    cifar10=_TOY,
    cifar100=_TOY,
    imagenet=dataclasses.replace(_TOY, image_size=32, normalize="imagenet"),
    seeds=1, pair_seeds=1, memorisation_factor=2,
    fractions=(0.5, 1.0),
    fraction_datasets=("cifar10",),
    # One 6:4 and one 5:5 row: each coarse row needs its own CIFAR-10 build (the slow part here).
    table6_rows=(1, 6),
    # An even count per class keeps every batch even: with TensorFlow 2.21's oneDNN CPU kernels,
    # networks of width 4 or 8 abort on an odd batch size ("double free or corruption").
    max_train_per_class=24,
    max_test_per_class=10,
    # t-SNE dominates a toy run's evaluation: 1,000 CIFAR-100 test points took longer than training.
    embedding_examples=200,
)

# Datasets the authors' fixed normalisation constants were computed on (see Profile.recipe_for).
_AUTHORS_NORMALIZE_SOURCE = {"cifar10_authors": "cifar10", "cifar100_authors": "cifar100"}

PROFILES = types.MappingProxyType({p.name: p for p in (_SMOKE, _CPU, _PAPER)})


def host_precision() -> str:
    """What train.mixed_precision 'native_bfloat16' means on this machine at plan time: 'bfloat16'
    on a CPU that computes it natively, else 'auto'."""
    return "bfloat16" if machine.native_bfloat16() else "auto"


def __getattr__(name: str):
    # CPU_MIXED_PRECISION (the cpu profile's precision as `lg reproduce` plans it here) is read on
    # use, not at import: compiling a pipeline imports this module on a host whose CPU says
    # nothing about the machines that will train.
    if name == "CPU_MIXED_PRECISION":
        return host_precision()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _on_this_host(profile: Profile) -> Profile:
    """`profile` with train.mixed_precision 'native_bfloat16' resolved by `host_precision`."""
    def resolve(recipe: Recipe) -> Recipe:
        if recipe.train.mixed_precision != "native_bfloat16":
            return recipe
        return dataclasses.replace(recipe, train=dataclasses.replace(
            recipe.train, mixed_precision=host_precision()))

    return dataclasses.replace(profile, **{f: resolve(getattr(profile, f)) for f in FAMILIES})


def get_profile(name: str, *, portable: bool = False) -> Profile:
    """The profile called `name`, as this machine runs it, or as declared.

    Args:
        name: 'smoke', 'cpu' or 'paper'.
        portable: keep choices that depend on the training machine unresolved (a compiled
            pipeline); False resolves them here, at plan time (`lg reproduce`).

    Raises:
        ConfigError: for an unknown name, listing the choices.
    """
    if name not in PROFILES:
        raise ConfigError(f"Unknown profile {name!r}. Available: {', '.join(PROFILES)}.")
    return PROFILES[name] if portable else _on_this_host(PROFILES[name])
