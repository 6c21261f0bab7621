"""Writes a small image folder anyone can make, with a hierarchy: the README's `lg study` example.

    python -m pipelines.make_example_folder OUT [--per-class 80] [--size 16] [--seed 0]
    lg study --dataset folder:OUT/shapes --hierarchy OUT/shapes.yaml --profile smoke --seeds 2 \\
        --out runs/shapes

OUT/shapes/<class>/<i>.png holds `per_class` RGB images of each of four fine classes, in two
coarse classes (OUT/shapes.yaml):

    round:   disc (a filled circle), ring (a circle's outline)
    angular: square (a filled square), cross (a plus sign)

Each image draws one shape at a random position and size in a random colour on a random
background of another brightness, plus pixel noise, so the shape is the only thing that tells the
classes apart: a network can learn it, and each coarse class holds two fine classes that look
different (filled vs. drawn in lines), the situation the paper's question is about. There is no
test split: `lg study` holds one out (`--test-fraction`). Seeded: the same arguments write the
same files.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image

HIERARCHY = {"round": ("disc", "ring"), "angular": ("square", "cross")}


def draw_shape(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 (size, size, 3) image of a shape ('disc', 'ring', 'square' or 'cross')."""
    radius = rng.uniform(0.22, 0.38) * size
    edge = min(radius + 1, size / 2)  # keeps the shape inside the image (all of it from 16 px)
    cy, cx = rng.uniform(edge, size - edge, 2)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    dy, dx = y - cy, x - cx
    thickness = max(1.0, size / 10)
    if kind == "disc":
        mask = dy ** 2 + dx ** 2 <= radius ** 2
    elif kind == "ring":
        distance = np.sqrt(dy ** 2 + dx ** 2)
        mask = np.abs(distance - radius + thickness / 2) <= thickness / 2
    elif kind == "square":
        mask = (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85)
    elif kind == "cross":
        mask = (((np.abs(dy) <= thickness / 2 + 0.25) & (np.abs(dx) <= radius))
                | ((np.abs(dx) <= thickness / 2 + 0.25) & (np.abs(dy) <= radius)))
    else:
        raise ValueError(f"Unknown shape {kind!r}. Available: disc, ring, square, cross.")
    background = rng.uniform(0, 255, 3)
    foreground = rng.uniform(0, 255, 3)
    # Another brightness than the background, so every shape is visible.
    if abs(foreground.mean() - background.mean()) < 60:
        foreground = np.where(background.mean() > 127, foreground * 0.3, 255 - (255 - foreground)
                              * 0.3)
    image = np.where(mask[:, :, None], foreground, background) + rng.normal(0, 12, (size, size, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def write_example_folder(out: str, *, per_class: int = 80, size: int = 16,
                         seed: int = 0) -> tuple[str, str]:
    """Writes OUT/shapes/<class>/<i>.png and OUT/shapes.yaml (module docstring).

    Args:
        out: the output directory (created; existing files of the same names are replaced).
        per_class: images per fine class.
        size: image side in pixels.
        seed: the drawing seed.

    Returns:
        (the image folder, the hierarchy file).
    """
    if per_class < 1 or size < 8:
        raise ValueError(f"per_class must be >= 1 and size >= 8; got {per_class}, {size}.")
    folder = os.path.join(out, "shapes")
    for c, kind in enumerate(k for fine in HIERARCHY.values() for k in fine):
        rng = np.random.default_rng([seed, c])
        os.makedirs(os.path.join(folder, kind), exist_ok=True)
        for i in range(per_class):
            Image.fromarray(draw_shape(kind, size, rng)).save(
                os.path.join(folder, kind, f"{i:04d}.png"), "PNG")
    hierarchy = os.path.join(out, "shapes.yaml")
    with open(hierarchy, "w", encoding="utf-8") as f:
        f.write("name: shapes\ndescription: round vs. angular shapes, each drawn filled or in "
                "lines (pipelines/make_example_folder.py)\ncoarse:\n")
        f.writelines(f"  {coarse}: [{', '.join(fine)}]\n" for coarse, fine in HIERARCHY.items())
    return folder, hierarchy


def main(argv=None) -> int:
    """`python -m pipelines.make_example_folder OUT`: writes the folder, prints where."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.make_example_folder",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", metavar="OUT", help="output directory")
    parser.add_argument("--per-class", type=int, default=80, help="images per fine class")
    parser.add_argument("--size", type=int, default=16, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="drawing seed")
    args = parser.parse_args(argv)
    folder, hierarchy = write_example_folder(args.out, per_class=args.per_class, size=args.size,
                                             seed=args.seed)
    print(f"wrote {4 * args.per_class} images in {folder} and the hierarchy {hierarchy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
