"""A tiny plan over a generated 4-class image folder, for the local runner and the kfp local run."""

import dataclasses
import os

from lg_keras.config import BuildConfig
from pipelines.plan import DatasetSpec, Plan, RunSpec
from pipelines.profiles import get_profile
from tests.helpers import datagen

CLASSES = ["c0", "c1", "c2", "c3"]


def tiny_plan(root: str, *, with_missing: bool = False) -> Plan:
    """A plan over a generated 4-class folder: one fine run, also scored under another hierarchy.

    With `with_missing`, a second run needs a dataset whose folder does not exist.
    """
    images = os.path.join(root, "images")
    if not os.path.isdir(images):
        datagen.write_image_folder(images, CLASSES, 12, 4, size=(8, 8))
    hierarchy = datagen.write_hierarchy(os.path.join(root, "pairs.yaml"),
                                        {"low": ["c0", "c1"], "high": ["c2", "c3"]}, name="pairs")
    other = datagen.write_hierarchy(os.path.join(root, "mixed.yaml"),
                                    {"even": ["c0", "c2"], "odd": ["c1", "c3"]}, name="mixed")
    toy = DatasetSpec(key="toy", build=BuildConfig(dataset=f"folder:{images}", hierarchy=hierarchy),
                      paper_name="toy")
    recipe = get_profile("smoke").cifar10
    recipe = dataclasses.replace(recipe, batch_size=16,
                                 train=dataclasses.replace(recipe.train, epochs=1,
                                                           warmup_epochs=0.0))
    runs = [RunSpec("toy", recipe.experiment("fine"), hierarchies=(other,),
                    experiments=("table1", "table6"), estimated_seconds=5.0)]
    datasets = [toy]
    if with_missing:
        gone = DatasetSpec(key="gone", paper_name="gone", build=BuildConfig(
            dataset=f"folder:{os.path.join(root, 'missing')}", hierarchy=hierarchy))
        datasets.append(gone)
        runs.append(RunSpec("gone", recipe.experiment("coarse"), experiments=("table1",)))
    return Plan(profile="smoke", datasets=tuple(datasets), runs=tuple(runs),
                experiments={"table1": {"title": "tiny"}},
                evaluator={"max_embedding_examples": 8})
