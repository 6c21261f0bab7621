"""The record schema: feature keys of the label views, noisy variants included."""

import pytest

from lg_keras import records
from lg_keras.config import noise_variant


@pytest.mark.parametrize("view,feature", [
    ("fine", "fine_label"),
    ("coarse", "coarse_label"),
    ("fine_noise_0.1", "fine_label_noise_0.1"),
    ("fine_noise_launched_0.1", "fine_label_noise_launched_0.1"),
    ("fine_cluster_5", "fine_label_cluster_5"),
])
def test_label_feature(view, feature):
    assert records.label_feature(view) == feature


@pytest.mark.parametrize("kind", ["within_coarse", "launched"])
def test_noise_view_and_feature_share_the_variant_name(kind):
    variant = noise_variant(0.03, kind)
    assert records.label_feature(f"fine_noise_{variant}") == records.noise_feature(variant)


def test_unknown_label_view():
    with pytest.raises(ValueError, match="fine_noisy_0.1"):
        records.label_feature("fine_noisy_0.1")


def test_an_example_serialises_to_the_same_bytes_in_every_process():
    """Shards are byte-reproducible: protobuf's map order changes per process unless asked not to."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    code = ("import hashlib; from lg_keras import records; "
            "fields = {records.ID: 'x1', records.IMAGE: b'abc', records.IMAGE_FORMAT: 'raw', "
            "records.HEIGHT: 1, records.WIDTH: 1, records.CHANNELS: 3, records.FINE: 4, "
            "records.COARSE: 1, records.SOURCE_LABEL: 4, records.RANK: 0, "
            "**{records.noise_feature(f'launched_{r}'): 2 for r in (0.01, 0.03, 0.1, 0.3)}}; "
            "data = records.encode_example(fields); "
            "assert records.decode_example(data)[records.FINE] == 4; "
            "print(hashlib.sha256(data).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout
               for seed in range(4)}
    assert len(digests) == 1, digests
