"""Runs the lg_keras Keras metrics under a 2-replica CPU MirroredStrategy and prints JSON.

test_keras_metrics.py runs this in a subprocess, because the CPU must be split into two logical
devices before TensorFlow initialises. It prints one JSON object on stdout: the number of replicas
and, for each run, the labels, the model's logits and the metric values that `evaluate` and `fit`
(learning rate 0, so the predictions do not change) reported; the test compares them with numpy.

    python tests/lg_keras/mirrored_metrics_check.py
"""

import json
import sys

import numpy as np
import tensorflow as tf

FINE_TO_COARSE = [0, 0, 1, 1, 1, 2]
GLOBAL_BATCH = 8
# 45 % 8 = 5: the last batch splits 3 + 2. 41 % 8 = 1: one replica gets an empty last batch.
RUNS = ((45, "flat"), (41, "column"))


def _split_cpu() -> list[str]:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def _build_model(num_fine: int):
    import keras

    from lg_keras import keras_metrics

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(num_fine)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras_metrics.CoarseAccuracy(FINE_TO_COARSE),
                           keras_metrics.FineConfusionMatrix(num_fine),
                           keras_metrics.AverageConfusionRatio(FINE_TO_COARSE)])
    return model


def _as_json(logs: dict) -> dict:
    return {key: np.asarray(value).tolist() for key, value in logs.items()}


def main() -> None:
    devices = _split_cpu()
    strategy = tf.distribute.MirroredStrategy(devices)
    rng = np.random.default_rng(0)
    runs = []
    for num_examples, label_shape in RUNS:
        # A fresh model per label shape: Keras' own loss fails ("Cannot take the length of shape
        # with unknown rank") when one compiled model sees (batch,) labels and then (batch, 1).
        with strategy.scope():
            model = _build_model(len(FINE_TO_COARSE))
        x = rng.normal(size=(num_examples, 6)).astype("float32")
        y = rng.integers(0, len(FINE_TO_COARSE), size=num_examples)
        y_fed = y if label_shape == "flat" else y[:, None]
        dataset = tf.data.Dataset.from_tensor_slices((x, y_fed)).batch(GLOBAL_BATCH)
        evaluated = model.evaluate(dataset, return_dict=True, verbose=0)
        fitted = model.fit(dataset, epochs=1, shuffle=False, verbose=0).history
        runs.append({"labels": y.tolist(), "logits": model.predict(x, verbose=0).tolist(),
                     "evaluate": _as_json(evaluated),
                     "fit": _as_json({key: values[-1] for key, values in fitted.items()})})
    json.dump({"devices": devices, "replicas": strategy.num_replicas_in_sync, "runs": runs},
              sys.stdout)


if __name__ == "__main__":
    main()
