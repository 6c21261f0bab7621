"""A tiny synthetic dataset built through the real builder, shared by the trainer tests.

Each image encodes a 2-D point p = (x, y) in [0, 1]^2 as the intensity of its first two channels
(plus pixel noise). The fine classes are tight clusters of points around the centres of a 4 x 4
grid; the coarse class of cell (i, j) is (i + j) % 2, a checkerboard. The fine classes are the
Voronoi cells of their centres, so an argmax of linear functions of p separates them, while no
simple boundary splits the coarse checkerboard: labels of the fine granularity make the coarse task
easier, which is the effect of the paper (and what test_trainer's known-answer test checks).

Built once per pytest session (about 15 s of Beam) and reused from the session's base temp dir:

    from tests.helpers.fixtures import grid_dataset  # a fixture; use it as a test argument
"""

import os

import numpy as np
import pytest
from PIL import Image

GRID = 4
IMAGE_SIZE = 8
TRAIN_PER_CLASS = 24
TEST_PER_CLASS = 8
NOISE_RATES = (0.5, 1.0)


def fine_name(i: int, j: int) -> str:
    return f"cell_{i}{j}"


def fine_to_coarse_names() -> dict[str, str]:
    """{fine class: coarse class} of the checkerboard."""
    return {fine_name(i, j): ("dark" if (i + j) % 2 == 0 else "light")
            for i in range(GRID) for j in range(GRID)}


def write_grid_folder(root: str, seed: int = 0) -> str:
    """Writes ROOT/{train,test}/<fine>/*.png and ROOT/hierarchy.yaml; returns the YAML path."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for i in range(GRID):
            for j in range(GRID):
                folder = os.path.join(root, split, fine_name(i, j))
                os.makedirs(folder, exist_ok=True)
                centre = (np.array([i, j]) + 0.5) / GRID
                points = centre + rng.normal(0, 0.12 / GRID, size=(count, 2))
                for k, (x, y) in enumerate(points):
                    image = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3))
                    image[..., 0], image[..., 1], image[..., 2] = x, y, 0.5
                    image = 255 * image + rng.normal(0, 25, image.shape)
                    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                        os.path.join(folder, f"{k:03d}.png"))
    groups = {}
    for fine, coarse in fine_to_coarse_names().items():
        groups.setdefault(coarse, []).append(fine)
    path = os.path.join(root, "hierarchy.yaml")
    with open(path, "w") as f:
        f.write("name: grid_checkerboard\ncoarse:\n")
        for coarse, fines in groups.items():
            f.write(f"  {coarse}: [{', '.join(fines)}]\n")
    return path


def build_grid_dataset(base: str) -> str:
    """Builds (or reuses) the grid dataset under `base`; returns the dataset directory."""
    out = os.path.join(base, "grid_dataset")
    if os.path.isfile(os.path.join(out, "dataset.json")):
        return out
    # pylint: disable=import-outside-toplevel
    from components.example_gen import executor
    from components.example_gen.source_access import SourceAccess
    from lg_keras.config import BuildConfig

    hierarchy = write_grid_folder(os.path.join(base, "grid_folder"))
    cfg = BuildConfig(dataset=f"folder:{os.path.join(base, 'grid_folder')}", hierarchy=hierarchy,
                      noise=NOISE_RATES)
    executor.run(cfg, SourceAccess(), {"examples": out})
    return out


@pytest.fixture(scope="session")
def grid_dataset(tmp_path_factory) -> str:
    """The grid dataset directory (fine 16 classes, coarse 2, views fine_noise_0.5/fine_noise_1)."""
    return build_grid_dataset(str(tmp_path_factory.getbasetemp()))
