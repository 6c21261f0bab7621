"""pipelines.tensorboard: a real TensorBoard on a free loopback port, queried over its HTTP API.

The run directory is the tiny trained fine run after the evaluator wrote into it, so the scalars
and HParams come from training and the image and projector from the evaluator.
"""

import json
import os
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from lg_keras import embeddings
from lg_keras.errors import LgError, RunDirError
from pipelines import cli, tensorboard
from tests.helpers.evaluator_fixtures import evaluated_run, tiny_dataset, tiny_runs  # noqa: F401


class _Client:
    def __init__(self, url):
        self.url = url

    def get(self, path, **params):
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as response:
            return response.read()

    def get_json(self, path, **params):
        return json.loads(self.get(path, **params))

    def post_json(self, path, body):
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def wait_for(self, fetch, ok, timeout_s=60):
        """TensorBoard loads event files in the background: poll until `ok(fetch())`."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = fetch()
            if ok(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.5)


@pytest.fixture(scope="module")
def served(evaluated_run):
    run_dir, metrics = evaluated_run
    process, url = tensorboard.serve(os.path.join(run_dir, "logs"),
                                     extra_args=("--reload_interval", "1"))
    try:
        yield run_dir, metrics, _Client(url)
    finally:
        tensorboard.stop(process)
    assert process.poll() is not None


def test_serve_binds_loopback_on_a_free_port(served):
    _, _, client = served
    assert client.url.startswith("http://127.0.0.1:")
    assert int(client.url.rsplit(":", 1)[1]) > 0


def test_scalars_from_training_and_evaluation(served):
    run_dir, metrics, client = served
    tags = client.wait_for(lambda: client.get_json("/data/plugin/scalars/tags"),
                           lambda t: {"train", "validation", "evaluation"} <= set(t))
    assert "epoch_accuracy" in tags["train"]
    assert "evaluation/coarse_test_accuracy" in tags["evaluation"]
    series = client.get_json("/data/plugin/scalars/scalars", run="train", tag="epoch_accuracy")
    with open(os.path.join(run_dir, "history.json")) as f:
        history = json.load(f)
    # Each point is [wall_time, step, value]; Keras' TensorBoard callback counts epochs from 0.
    assert [p[1] for p in series] == list(range(len(history)))
    np.testing.assert_allclose([p[2] for p in series], [e["accuracy"] for e in history], rtol=1e-6)
    (point,) = client.get_json("/data/plugin/scalars/scalars", run="evaluation",
                               tag="evaluation/coarse_test_accuracy")
    assert point[1] == metrics["num_epochs"]
    assert point[2] == pytest.approx(metrics["coarse_test_accuracy"])


def test_hparams_of_the_run(served):
    _, _, client = served
    experiment = client.wait_for(
        lambda: client.post_json("/data/plugin/hparams/experiment", {"experimentName": ""}),
        lambda e: e.get("hparamInfos"))
    names = {info["name"] for info in experiment["hparamInfos"]}
    assert {"data.labels", "data.fraction", "model.width"} <= names  # the trainer's flat config
    groups = client.post_json("/data/plugin/hparams/session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 10,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                            "STATUS_RUNNING"],
        "colParams": [{"hparam": "data.labels"}, {"hparam": "data.fraction"},
                      {"metric": {"tag": "final/val_coarse_accuracy", "group": ""}}]})
    (group,) = groups["sessionGroups"]
    assert group["hparams"]["data.labels"] == "fine"
    assert group["hparams"]["data.fraction"] == pytest.approx(0.5)


def test_confusion_image_from_the_evaluator(served):
    _, _, client = served
    tags = client.wait_for(lambda: client.get_json("/data/plugin/images/tags"),
                           lambda t: "evaluation" in t)
    assert "confusion_matrix/fine" in tags["evaluation"]
    (entry,) = client.get_json("/data/plugin/images/images", run="evaluation",
                               tag="confusion_matrix/fine")
    png = client.get(f"/data/plugin/images/individualImage?{entry['query']}")
    assert png[:4] == b"\x89PNG"


def test_projector_serves_the_penultimate_features(served):
    run_dir, metrics, client = served
    runs = client.wait_for(lambda: client.get_json("/data/plugin/projector/runs"),
                           lambda r: "evaluation" in r)
    assert "evaluation" in runs
    info = client.get_json("/data/plugin/projector/info", run="evaluation")
    (embedding,) = info["embeddings"]
    assert embedding["tensorName"] == embeddings.TENSOR_NAME
    n = metrics["num_test_examples"]
    assert [int(x) for x in embedding["tensorShape"]] == [n, 32]
    assert embedding["sprite"]["imagePath"] == "sprite.png"
    raw = client.get("/data/plugin/projector/tensor", run="evaluation", name=embedding["tensorName"])
    served_features = np.frombuffer(raw, np.float32).reshape(n, 32)
    log_dir = os.path.join(run_dir, "logs", "evaluation")
    stored = tf.train.load_checkpoint(tf.train.latest_checkpoint(log_dir)).get_tensor(
        embeddings.TENSOR_NAME)
    np.testing.assert_array_equal(served_features, stored)
    metadata = client.get("/data/plugin/projector/metadata", run="evaluation",
                          name=embedding["tensorName"]).decode()
    assert metadata.splitlines()[0] == "fine\tcoarse" and len(metadata.splitlines()) == n + 1
    sprite = client.get("/data/plugin/projector/sprite_image", run="evaluation",
                        name=embedding["tensorName"])
    assert sprite[:4] == b"\x89PNG"


def test_serve_refuses_a_missing_logdir_and_quotes_a_failed_start(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        tensorboard.serve(str(tmp_path / "missing"))
    with pytest.raises(LgError,
                       match="(?s)exited with status 2.*unrecognized arguments: --no_such_flag"):
        tensorboard.serve(str(tmp_path), extra_args=("--no_such_flag",))


def test_lg_tensorboard_defaults_to_loopback():
    args = cli.build_parser().parse_args(["tensorboard", "runs/cpu"])
    assert (args.logdir, args.host, args.port) == ("runs/cpu", "127.0.0.1", 6006)
    args = cli.build_parser().parse_args(["tensorboard", "d", "--host", "0.0.0.0", "--port", "0"])
    assert (args.host, args.port) == ("0.0.0.0", 0)


def test_free_port_is_bindable():
    import socket  # pylint: disable=g-import-not-at-top

    port = tensorboard.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
