"""Small generated datasets on disk for tests: image folders and hierarchy YAML files."""

import os

import numpy as np
from PIL import Image


def write_image_folder(root, classes, train_per_class, test_per_class, *, size=(8, 8),
                       vary_size=False, fmt="png", seed=0, channels=3):
    """Writes ROOT/{train,test}/<class>/<i>.<fmt> with random pixels; returns {id: pixels}.

    Args:
        root: directory to create.
        classes: class folder names.
        train_per_class: images per class in train/.
        test_per_class: images per class in test/.
        size: (height, width) of every image unless vary_size.
        vary_size: draw each image's size in [size, 3 * size).
        fmt: 'png' (lossless; pixels returned exactly) or 'jpeg'.
        seed: pixel seed.
        channels: 1 or 3.
    """
    rng = np.random.default_rng(seed)
    pixels = {}
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for name in classes:
            directory = os.path.join(root, split, name)
            os.makedirs(directory, exist_ok=True)
            for i in range(count):
                h, w = size
                if vary_size:
                    h, w = int(rng.integers(h, 3 * h)), int(rng.integers(w, 3 * w))
                image = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
                file_name = f"{i:04d}.{'jpg' if fmt == 'jpeg' else 'png'}"
                Image.fromarray(image[:, :, 0] if channels == 1 else image).save(
                    os.path.join(directory, file_name), "JPEG" if fmt == "jpeg" else "PNG")
                pixels[f"{split}/{name}/{file_name}"] = image
    return pixels


def write_hierarchy(path, coarse: dict, name=None):
    """Writes a hierarchy YAML file mapping coarse names to lists of fine names."""
    lines = [f"name: {name}"] if name else []
    lines.append("coarse:")
    lines += [f"  {c}: [{', '.join(f)}]" for c, f in coarse.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)
