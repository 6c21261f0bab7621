"""Both Beam jobs with their workers in separate processes that keep their own files to themselves.

The builder and the cluster job run on the FnApiRunner in multi_processing mode: two SDK worker
processes, as a remote runner (Dataflow, Flink, Spark) has workers on other machines. There the
job's output storage is reached through storage clients (Beam's FileSystems, tf.io), as gs:// is,
while a plain `open(path, 'w')` on a worker writes to that worker's own disk. The harness below
gives each worker process that disk: its plain writes under the test's directory land in a private
scratch folder the launcher never reads. An output that only works in one process goes missing;
the jobs' results must equal the in-process runner's.
"""

import json
import os

import pytest
import tensorflow as tf

from components.cluster import executor as cluster
from components.example_gen import executor as example_gen
from components.example_gen.source_access import SourceAccess
from lg_keras import records
from lg_keras.config import BuildConfig
from tests.helpers import datagen

WORKER_PROCESSES = ("--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                    "--direct_num_workers=2")

# Imported by every Python process started while the environment below is set; acts only in Beam
# SDK worker processes (the runner gives them CONTROL_API_SERVICE_DESCRIPTOR).
_WORKER_DISK = '''
import builtins, os
_root, _scratch = os.environ.get("LG_TEST_SHARED_ROOT"), os.environ.get("LG_TEST_WORKER_DISK")
if _root and _scratch and "CONTROL_API_SERVICE_DESCRIPTOR" in os.environ:
    _scratch = os.path.join(_scratch, str(os.getpid()))
    _open = builtins.open
    os.makedirs(_scratch)
    _open(os.path.join(_scratch, "worker"), "w").close()  # the harness is on in this process

    def _worker_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            path = os.path.abspath(os.fspath(file))
            if path.startswith(_root + os.sep):
                file = os.path.join(_scratch, os.path.relpath(path, _root))
                os.makedirs(os.path.dirname(file), exist_ok=True)
        return _open(file, mode, *args, **kwargs)

    builtins.open = _worker_open
'''

CLASSES = ["ant", "bee", "cat", "dog"]
COARSE = {"small": ["ant", "bee"], "pets": ["cat", "dog"]}
CLUSTER = {"k": [2], "features": "pixels", "seed": 1}
# Set by each build or run: when it happened and how long it took.
_VARYING = ("built_at", "build_seconds", "cluster_seconds")


@pytest.fixture
def worker_disks(tmp_path, monkeypatch):
    """Gives each Beam worker process a private disk for its plain writes under tmp_path.

    Returns:
        The folder holding one scratch folder per worker process.
    """
    harness = tmp_path / "harness"
    harness.mkdir()
    (harness / "sitecustomize.py").write_text(_WORKER_DISK)
    disks = tmp_path / "worker_disks"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(harness)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    monkeypatch.setenv("LG_TEST_SHARED_ROOT", str(tmp_path))
    monkeypatch.setenv("LG_TEST_WORKER_DISK", str(disks))
    return disks


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The build and the clustered copy made by the default in-process runner."""
    root = tmp_path_factory.mktemp("in_process")
    images = root / "images"
    datagen.write_image_folder(images, CLASSES, 10, 4, size=(6, 5))
    cfg = BuildConfig(dataset=f"folder:{images}",
                      hierarchy=datagen.write_hierarchy(root / "h.yaml", COARSE, name="toy"),
                      noise=(0.5,), seed=2)
    built, clustered = str(root / "built"), str(root / "clustered")
    example_gen.run(cfg, SourceAccess(), {"examples": built})
    cluster.run(CLUSTER, {"examples": built}, {"examples": clustered})
    return cfg, built, clustered


def _contents(directory):
    """Everything a dataset directory holds, as comparable values.

    Returns:
        ({relative path: [decoded record, ...] in file order, for shards; bytes, for other
        files}, dataset.json less its timings and its pixel mean and std, (mean, std)).
        Shards are compared decoded: a tf.train.Example's features are a protobuf map, serialised
        in an order that changes from one process to the next (two in-process builds of the same
        config differ in bytes too). The pixel moments are summed in the order the runner merges
        its partial sums, so they agree to rounding.
    """
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if ".tfrecord" in name:
                value = [records.decode_example(raw.numpy())
                         for raw in tf.data.TFRecordDataset(path)]
            else:
                with open(path, "rb") as f:
                    value = f.read()
            files[os.path.relpath(path, directory)] = value
    meta = json.loads(files.pop("dataset.json"))
    image = meta.pop("image")
    moments = image.pop("mean") + image.pop("std")
    meta = {key: value for key, value in meta.items() if key not in _VARYING}
    return files, {**meta, "image": image}, moments


def _assert_same_dataset(directory, reference):
    files, meta, moments = _contents(directory)
    ref_files, ref_meta, ref_moments = _contents(reference)
    assert files == ref_files
    assert meta == ref_meta
    assert moments == pytest.approx(ref_moments, rel=1e-12)


def _written_on_worker_disks(disks):
    """The files under each worker's own disk, by worker; the harness leaves a 'worker' file."""
    return sorted(sorted(str(f.relative_to(disk)) for f in disk.rglob("*") if f.is_file())
                  for disk in disks.iterdir())


def test_build_with_worker_processes_equals_the_in_process_build(in_process, worker_disks,
                                                                 tmp_path):
    cfg, reference, _ = in_process
    out = str(tmp_path / "built")
    meta = example_gen.run(cfg, SourceAccess(beam_args=WORKER_PROCESSES), {"examples": out})
    assert meta["counts"]["train"]["total"] == 40
    _assert_same_dataset(out, reference)
    # Two worker processes ran the job and wrote nothing to their own disks.
    assert _written_on_worker_disks(worker_disks) == [["worker"], ["worker"]]
    assert sorted(os.listdir(tmp_path)) == ["built", "harness", "worker_disks"]  # no partial


def test_cluster_with_worker_processes_equals_the_in_process_copy(in_process, worker_disks,
                                                                  tmp_path):
    _, source, reference = in_process
    out = str(tmp_path / "clustered")
    cluster.run(CLUSTER, {"examples": source}, {"examples": out}, beam_args=WORKER_PROCESSES)
    _assert_same_dataset(out, reference)
    assert _written_on_worker_disks(worker_disks) == [["worker"], ["worker"]]
    assert sorted(os.listdir(tmp_path)) == ["clustered", "harness", "worker_disks"]
