"""pipelines.study_dataset: lg study counts a dataset before building it, and refuses bad input
with one error naming the class and the path, before anything is built or trained."""

import os
import shutil

import pytest

from lg_keras.errors import ConfigError, DataError, HierarchyError
from pipelines import cli
from pipelines.make_example_folder import write_example_folder
from pipelines.study_dataset import survey_dataset
from tests.helpers import datagen


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The README's example folder, small: 4 classes x 10 images of 8 px, no test split."""
    return write_example_folder(str(tmp_path_factory.mktemp("shapes")), per_class=10, size=8)


def _study(capsys, tmp_path, dataset, hierarchy, *extra):
    """Runs `lg study` (not a dry run); returns (exit status, its one error line, whether --out
    was made)."""
    out = tmp_path / "runs"
    status = cli.main(["study", "--dataset", dataset, "--hierarchy", hierarchy,
                       "--profile", "smoke", "--seeds", "2", "--out", str(out), *extra])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return status, errors[0], out.exists()


def test_a_folder_is_counted_and_its_side_measured(shapes):
    folder, hierarchy = shapes
    survey = survey_dataset(f"folder:{folder}", hierarchy, test_fraction=0.2)
    assert survey.counts == {"train": dict.fromkeys(["cross", "disc", "ring", "square"], 8),
                             "test": dict.fromkeys(["cross", "disc", "ring", "square"], 2)}
    assert (survey.side, survey.fixed_size, survey.total_images) == (8, False, 40)
    assert survey.test_fraction == 0.2 and survey.train_images(5) == 20
    assert "held out" in survey.where["test"]["disc"]


def test_a_named_dataset_is_counted_from_the_planners_table(tmp_path):
    survey = survey_dataset("cifar10", "cifar10", test_fraction=0.2)
    assert survey.counts["train"]["cat"] == 5000 and survey.side == 32 and survey.fixed_size
    assert survey.test_fraction == 0.0  # CIFAR-10 has its own test split
    wolf = datagen.write_hierarchy(tmp_path / "wolf.yaml",
                                   {"animal": ["cat", "wolf"], "vehicle": ["truck"]})
    with pytest.raises(HierarchyError, match=r"that cifar10 lacks: 'wolf' \(coarse 'animal'\)"):
        survey_dataset("cifar10", wolf)


def test_one_class_fails_before_training_naming_class_and_path(capsys, tmp_path, shapes):
    folder, hierarchy = shapes
    one = tmp_path / "one"
    shutil.copytree(os.path.join(folder, "disc"), one / "disc")
    status, err, made = _study(capsys, tmp_path, f"folder:{one}", hierarchy)
    assert status == 2 and not made
    assert err.startswith("error: Image folder ") and "has one class, 'disc'" in err
    assert f"{one}/disc/" in err


def test_a_hierarchy_naming_absent_classes_fails_naming_them_and_the_folder(capsys, tmp_path,
                                                                            shapes):
    folder, _ = shapes
    wrong = datagen.write_hierarchy(tmp_path / "wrong.yaml",
                                    {"round": ["disc", "oval"], "angular": ["square", "cross"]})
    status, err, made = _study(capsys, tmp_path, f"folder:{folder}", wrong)
    assert status == 2 and not made
    assert "names 1 class(es) that the image folder" in err and folder in err
    assert "'oval' (coarse 'round')" in err and "cross, disc, ring, square" in err


def test_fewer_than_two_images_of_a_class_in_a_split_fails_naming_the_class_and_path(
        capsys, tmp_path, shapes):
    _, hierarchy = shapes
    classes = ["disc", "ring", "square", "cross"]
    split = tmp_path / "split"
    datagen.write_image_folder(split, classes, 4, 2, size=(8, 8))
    os.remove(split / "test" / "ring" / "0001.png")  # 1 test image of 'ring'
    status, err, made = _study(capsys, tmp_path, f"folder:{split}", hierarchy)
    assert status == 2 and not made
    assert "Class 'ring' has 1 image(s) in the test split" in err
    assert f"{split}/test/ring/" in err
    # Held out: 7 images at a test fraction of 0.2 leave 1 test image.
    flat = tmp_path / "flat"
    datagen.write_image_folder(tmp_path / "src", classes, 10, 0, size=(8, 8))
    os.rename(tmp_path / "src" / "train", flat)
    for i in range(7, 10):
        os.remove(flat / "cross" / f"{i:04d}.png")
    status, err, made = _study(capsys, tmp_path, f"folder:{flat}", hierarchy)
    assert status == 2 and not made
    assert "Class 'cross' has 1 image(s) in the test split" in err
    assert f"{flat}/cross/ (held out: test_fraction 0.2, seed 0)" in err
    assert "--test-fraction" in err


def test_a_hierarchy_with_one_fine_class_per_coarse_class_compares_nothing(tmp_path, shapes):
    folder, _ = shapes
    same = datagen.write_hierarchy(tmp_path / "same.yaml", {"a": ["disc"], "b": ["square"]})
    with pytest.raises(ConfigError, match=r"one fine class in each coarse class"):
        survey_dataset(f"folder:{folder}", same)
    with pytest.raises(DataError, match=r"not found"):
        survey_dataset(f"folder:{tmp_path / 'missing'}", same)
