"""dataset.json read back: the label views of noisy variants, old and new dataset.json files."""

from lg_keras.dataset_info import DatasetInfo


def _info(noise):
    return DatasetInfo(path="/d", meta={"noise": noise, "clusters": {"10": {}, "2": {}}})


def test_label_views_come_from_the_noise_variants():
    info = _info({"kind": "launched", "rates": ["0.01", "0.1"],
                  "variants": ["launched_0.01", "launched_0.1"]})
    assert info.noise_kind == "launched"
    assert info.label_views() == ["fine", "coarse", "fine_noise_launched_0.01",
                                  "fine_noise_launched_0.1", "fine_cluster_2", "fine_cluster_10"]


def test_datasets_built_before_variants_list_their_rates():
    info = _info({"rates": ["0.3", "1"], "changed_fraction": {}})
    assert info.noise_kind == "within_coarse" and info.noise_variants == ["0.3", "1"]
    assert info.label_views()[2:4] == ["fine_noise_0.3", "fine_noise_1"]
    assert DatasetInfo(path="/d", meta={}).label_views() == ["fine", "coarse"]


def test_classes_and_coarse_map_per_label_view():
    meta = {"hierarchy": {"fine_names": list("abcd"), "coarse_names": ["x", "y"],
                          "fine_to_coarse": [0, 0, 1, 1]},
            "clusters": {"3": {"fine_to_coarse": [0, 0, 0, 1, 1, 1]}}}
    info = DatasetInfo(path="/d", meta=meta)
    assert [info.num_classes(v) for v in ("fine", "coarse", "fine_noise_0.1", "fine_cluster_3")] \
        == [4, 2, 4, 6]
    assert info.view_to_coarse("coarse").tolist() == [0, 1]
    assert info.view_to_coarse("fine_noise_launched_0.1").tolist() == [0, 0, 1, 1]
    assert info.view_to_coarse("fine_cluster_3").tolist() == [0, 0, 0, 1, 1, 1]
