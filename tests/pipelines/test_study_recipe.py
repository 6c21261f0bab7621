"""pipelines.study_recipe: lg study's recipe rule, as pure functions (family by image size, epochs
by dataset size, the schedule stretched with the epochs)."""

import math

import pytest

from lg_keras.config import TrainConfig
from pipelines import study_recipe as rule
from pipelines.profiles import get_profile


@pytest.mark.parametrize("side,family", [(8, "cifar10"), (32, "cifar10"), (64, "cifar10"),
                                         (65, "imagenet"), (500, "imagenet"), (0, "imagenet")])
def test_the_family_follows_the_image_size(side, family):
    assert rule.recipe_family(side) == family


def test_reference_steps_are_the_profiles_cifar10_recipe_on_its_cifar10_split():
    assert rule.reference_steps(get_profile("smoke")) == 1 * math.ceil(240 / 32)
    assert rule.reference_steps(get_profile("cpu")) == 12 * 391 == 4692
    assert rule.reference_steps(get_profile("paper")) == 200 * 196


@pytest.mark.parametrize("train_images,epochs", [
    (50_000, 12),        # CIFAR-10 size: the recipe's own epochs (4,692 steps)
    (500_000, 12),       # larger: never fewer epochs than the recipe
    (12_800, 47),        # 100 steps per epoch: ceil(4,692 / 100)
    (320, 120),          # 3 steps per epoch would want 1,564: capped at 10 x 12
    (1, 120)])
def test_epochs_follow_the_dataset_size_within_the_clamp(train_images, epochs):
    assert rule.study_epochs(12, train_images, 128, 4692) == epochs


def test_the_epoch_rule_against_a_naive_loop():
    """The smallest E in [E0, 10 E0] whose steps reach the reference, else the cap."""
    for n in (1, 7, 100, 999, 5000, 40_000, 60_000):
        for batch, e0, ref in ((32, 1, 8), (128, 12, 4692), (256, 200, 39_200)):
            steps = -(-n // batch)
            want = next((e for e in range(e0, rule.MAX_EPOCH_FACTOR * e0 + 1)
                         if e * steps >= ref), rule.MAX_EPOCH_FACTOR * e0)
            assert rule.study_epochs(e0, n, batch, ref) == want, (n, batch)


def test_the_schedule_stretches_with_the_epochs():
    train = TrainConfig(epochs=200, schedule="milestones", lr_milestones=((150, 0.1),),
                        warmup_epochs=2, eval_every=1)
    longer = rule.stretch_schedule(train, 1000)
    assert (longer.epochs, longer.warmup_epochs, longer.eval_every) == (1000, 10, 5)
    assert longer.lr_milestones == ((750, 0.1),)
    assert rule.stretch_schedule(train, 200) is train
    odd = rule.stretch_schedule(TrainConfig(epochs=12, schedule="warmup_cosine",
                                            warmup_epochs=2), 23)
    assert odd.warmup_epochs == pytest.approx(2 * 23 / 12) and odd.eval_every == 2


def test_choose_recipe_small_and_large_images_and_prints_the_rule():
    cpu = get_profile("cpu")
    small = rule.choose_recipe(cpu, side=16, fixed_size=False, train_images=320)
    assert small.family == "cifar10" and small.recipe.image_size == 16
    assert small.recipe.model == cpu.cifar10.model and small.recipe.train.epochs == 120
    assert small.recipe.experiment("fine").epochs_to_run() == 120
    text = "\n".join(small.lines())
    assert "16 px <= 64 px" in text and "CIFAR recipe" in text and "-> 120 epochs" in text
    large = rule.choose_recipe(cpu, side=300, fixed_size=False, train_images=26_000)
    assert large.family == "imagenet" and large.recipe.image_size == cpu.imagenet.image_size
    assert large.recipe.train.epochs == max(cpu.imagenet.train.epochs, math.ceil(4692 / 204))
    assert "ImageNet-subset recipe, input 64 px" in "\n".join(large.lines())
    stored = rule.choose_recipe(cpu, side=32, fixed_size=True, train_images=50_000)
    assert stored.recipe.image_size == 0 and stored.recipe == cpu.cifar10
    paper = rule.choose_recipe(get_profile("paper"), side=32, fixed_size=True,
                               train_images=50_000)
    assert paper.recipe.normalize == "dataset"  # not CIFAR-10's own constants
