"""The record schema: feature keys of the label views, noisy variants included."""

import pytest

from lg_keras import records
from lg_keras.label_views import (cluster_label_view, noise_label_view, noise_variant,
                                  parse_label_view)


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


@pytest.mark.parametrize("view", ["fine", "coarse", "fine_noise_0.1", "fine_noise_launched_0.03",
                                  "fine_cluster_5"])
def test_parsed_and_written_views_name_the_same_feature(view):
    parsed = parse_label_view(view)
    assert parsed.name == view
    assert records.label_feature(parsed) == records.label_feature(view)


def test_views_built_from_parts_name_the_builders_features():
    variant = noise_variant(0.3, "launched")
    assert records.label_feature(noise_label_view(variant)) == records.noise_feature(variant)
    assert records.label_feature(cluster_label_view(7)) == records.cluster_feature(7)


def test_a_view_keeps_its_spelling_in_the_feature():
    """The feature is the view's text after its prefix, not a reformatted rate ('0.10' stays)."""
    assert records.label_feature("fine_noise_0.10") == "fine_label_noise_0.10"


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
    # Started together: each process spends seconds importing TensorFlow.
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True,
                                 env={"PYTHONHASHSEED": str(seed), "PATH": ""})
                for seed in range(4)]
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0] * 4, [err for _, err in outputs]
    digests = {out for out, _ in outputs}
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 64, digests
