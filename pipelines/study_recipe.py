"""The recipe `lg study` trains a user's dataset with: one explicit rule, its constants here.

A profile (`pipelines.profiles`) holds one recipe per dataset family of the paper. A user's
dataset belongs to no family, so `lg study` picks the recipe and sizes the training by this rule,
prints its choice with the plan and records it in plan.json (`Plan.study['recipe']`):

1. Family by image size. The images' side is the median, over up to `SIDE_SAMPLE_PER_CLASS`
   training images of each class, of each image's larger side (header reads only).
   - side <= `SMALL_IMAGE_MAX_SIDE` (64 px): the profile's CIFAR-10 recipe (the paper's network
     for 32 px images), at that side. data.py switches its augmentation at the same size: pad,
     random crop and flip up to 64 px (CIFAR's), random-resized crop and flip above (ImageNet's).
   - larger: the profile's ImageNet-subset recipe at its input size (smoke 32, cpu 64, paper 224
     px): large photographs are what the paper's ImageNet subsets are.
   A named dataset of fixed size (cifar10, cifar100: 32 px; fashion_mnist: 28 px: the side of
   its entry in `lg_keras.sources.catalog`) keeps its stored size; ImageNet (sizes vary) takes
   the large branch. This rule, not the dataset table's families, places a user's dataset (a
   `folder:PATH` source has no entry there).
2. Epochs by dataset size, in optimizer steps. The reference is the number of steps the
   profile's CIFAR-10 recipe makes on the profile's CIFAR-10 training split (smoke: 1 epoch x 8
   steps of 32 on 240 images = 8; cpu: 12 x 391 steps of 128 = 4,692; paper: 200 x 196 steps of
   256 = 39,200). A dataset of n training images at the chosen recipe's batch B makes ceil(n / B)
   steps per epoch (the last, partial batch is kept, as data.py does), so it trains

       E = clamp(ceil(reference / ceil(n / B)), recipe epochs, MAX_EPOCH_FACTOR x recipe epochs)

   epochs: never fewer than the recipe's (a large dataset makes more steps than the reference
   already), at most `MAX_EPOCH_FACTOR` times as many (a 320-image folder would otherwise train
   1,564 epochs in the cpu profile; it trains 120, i.e. 360 steps). The schedule stretches with E:
   warm-up epochs and the milestones' epochs scale by E / recipe epochs, and the per-epoch test
   pass runs every round(E / recipe epochs) epochs, so a run makes the recipe's number of test
   passes. A data fraction f then trains ceil(E / f) epochs, as every fraction does.

    from pipelines.study_recipe import choose_recipe
    choice = choose_recipe(get_profile("cpu"), side=16, fixed_size=False, train_images=320)
    choice.recipe.experiment("fine", seed=0); print("\n".join(choice.lines()))
"""

import dataclasses
import math

from lg_keras.config import TrainConfig
from lg_keras.sources import catalog
from pipelines.profiles import Profile, Recipe, describe_recipe

# Images up to this side get the CIFAR recipe (data.py's augmentation switches here too).
SMALL_IMAGE_MAX_SIDE = 64
# Training images per class whose headers give the side.
SIDE_SAMPLE_PER_CLASS = 8
# At most this many times the recipe's epochs, however small the dataset.
MAX_EPOCH_FACTOR = 10
# The CIFAR-10 training split the reference steps are counted on: 10 classes of 5,000 images
# (its entry in the table of sources), cut to the profile's max_train_per_class (smoke: 24).
CIFAR10_CLASSES = catalog.source_entry("cifar10").num_classes
CIFAR10_TRAIN_PER_CLASS = catalog.source_entry("cifar10").size.train_per_class


def recipe_family(side: int) -> str:
    """'cifar10' for images up to SMALL_IMAGE_MAX_SIDE px, else 'imagenet' (0: sizes unknown)."""
    return "cifar10" if 0 < side <= SMALL_IMAGE_MAX_SIDE else "imagenet"


def reference_steps(profile: Profile) -> int:
    """Optimizer steps of the profile's CIFAR-10 recipe on the profile's CIFAR-10 training split."""
    per_class = min(CIFAR10_TRAIN_PER_CLASS, profile.max_train_per_class or math.inf)
    recipe = profile.cifar10
    return recipe.train.epochs * math.ceil(CIFAR10_CLASSES * per_class / recipe.batch_size)


def study_epochs(recipe_epochs: int, train_images: int, batch_size: int, reference: int) -> int:
    """clamp(ceil(reference / steps per epoch), recipe_epochs, MAX_EPOCH_FACTOR x recipe_epochs).

    Args:
        recipe_epochs: the recipe's epochs.
        train_images: training images of the dataset (>= 1).
        batch_size: the recipe's batch size.
        reference: `reference_steps` of the profile.
    """
    steps_per_epoch = math.ceil(train_images / batch_size)
    wanted = math.ceil(reference / steps_per_epoch)
    return min(max(wanted, recipe_epochs), MAX_EPOCH_FACTOR * recipe_epochs)


def stretch_schedule(train: TrainConfig, epochs: int) -> TrainConfig:
    """`train` over `epochs` (>= train.epochs): warm-up, milestones and the test-pass interval
    scaled by epochs / train.epochs, so the schedule keeps its shape and its number of test
    passes."""
    factor = epochs / train.epochs
    if factor == 1:
        return train
    milestones = tuple((int(math.floor(epoch * factor + 0.5)), cut)
                       for epoch, cut in train.lr_milestones)
    return dataclasses.replace(
        train, epochs=epochs, warmup_epochs=train.warmup_epochs * factor,
        lr_milestones=milestones,
        eval_every=train.eval_every and train.eval_every * max(1, round(factor)))


@dataclasses.dataclass(frozen=True)
class RecipeChoice:
    """What the rule chose for a dataset, and why.

    Attributes:
        profile: the profile's name.
        family: 'cifar10' or 'imagenet'.
        side: the images' measured side (0: unknown, sizes vary).
        fixed_size: whether the stored size is kept (a named dataset of one size).
        train_images: training images counted (after the profile's per-class cap).
        reference: the profile's reference steps.
        recipe: the recipe to train with (epochs and schedule already stretched).
        recipe_epochs: the family recipe's own epochs.
    """

    profile: str
    family: str
    side: int
    fixed_size: bool
    train_images: int
    reference: int
    recipe: Recipe
    recipe_epochs: int

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch of the full training split (last batch kept)."""
        return math.ceil(self.train_images / self.recipe.batch_size)

    def lines(self) -> list[str]:
        """The choice in words, one line per step of the rule (printed with the plan)."""
        size = (f"images of {self.side} px" if self.side else "images of varying size")
        family = {"cifar10": "CIFAR recipe", "imagenet": "ImageNet-subset recipe"}[self.family]
        inside = "<=" if self.family == "cifar10" else ">"
        stored = ("the stored size" if not self.recipe.image_size
                  else f"{self.recipe.image_size} px")
        factor = self.recipe.train.epochs / self.recipe_epochs
        wanted = math.ceil(self.reference / self.steps_per_epoch)
        return [
            f"family: {size} {inside} {SMALL_IMAGE_MAX_SIDE} px -> the {self.profile} profile's "
            f"{family}, input {stored}",
            f"epochs: {self.train_images:,} training images at batch {self.recipe.batch_size} = "
            f"{self.steps_per_epoch:,} steps per epoch; the {self.profile} profile's CIFAR-10 "
            f"recipe makes {self.reference:,} steps, so ceil({self.reference:,} / "
            f"{self.steps_per_epoch:,}) = {wanted:,} epochs, clamped to [{self.recipe_epochs}, "
            f"{MAX_EPOCH_FACTOR * self.recipe_epochs}] -> {self.recipe.train.epochs} epochs "
            f"({self.recipe.train.epochs * self.steps_per_epoch:,} steps)"
            + (f"; warm-up, milestones and the test-pass interval x{factor:g}"
               if factor != 1 else ""),
            f"recipe: {describe_recipe(self.recipe)}",
        ]


def choose_recipe(profile: Profile, *, side: int, fixed_size: bool,
                  train_images: int) -> RecipeChoice:
    """Applies the rule (module docstring) to a dataset.

    Args:
        profile: the profile (smoke, cpu or paper).
        side: the images' side in pixels (0: unknown, sizes vary).
        fixed_size: keep the stored size (a named dataset whose images all have `side`).
        train_images: training images the runs will see (after the profile's per-class cap).

    Returns:
        The RecipeChoice; its `recipe` makes the study's ExperimentConfigs.
    """
    family = recipe_family(side)
    recipe = getattr(profile, family)
    if recipe.normalize.endswith("_authors"):
        # The authors' constants are CIFAR's statistics; another dataset keeps its own.
        recipe = dataclasses.replace(recipe, normalize="dataset")
    if family == "cifar10":
        recipe = dataclasses.replace(recipe, image_size=0 if fixed_size else side)
    reference = reference_steps(profile)
    epochs = study_epochs(recipe.train.epochs, max(train_images, 1), recipe.batch_size, reference)
    stretched = dataclasses.replace(recipe, train=stretch_schedule(recipe.train, epochs))
    return RecipeChoice(profile=profile.name, family=family, side=side, fixed_size=fixed_size,
                        train_images=train_images, reference=reference, recipe=stretched,
                        recipe_epochs=recipe.train.epochs)
