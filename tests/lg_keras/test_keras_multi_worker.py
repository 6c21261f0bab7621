"""Tests of lg_keras/keras_multi_worker.py. The fixed multi-worker path itself needs two processes:
tests/components/test_trainer_multi_worker.py trains a chief and a worker through it."""

import keras
import numpy as np
from keras.src.backend.tensorflow import trainer as tf_trainer

from lg_keras import keras_multi_worker


def test_install_replaces_the_two_functions_once_and_one_process_fit_is_unchanged():
    keras_multi_worker.install()
    keras_multi_worker.install()
    assert tf_trainer.reduce_per_replica is keras_multi_worker._reduce_per_replica
    assert (tf_trainer.TensorFlowTrainer._maybe_symbolic_build
            is keras_multi_worker._maybe_symbolic_build)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.integers(0, 2, 32)
    losses = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        losses.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"])
    assert np.all(np.isfinite(losses)) and losses[0] == losses[1]
