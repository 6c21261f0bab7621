"""Two SGD steps of the trainer's compiled recipe on a linear model, under 1 or N CPU replicas.

test_train.py calls `run_steps` in-process for one replica and runs this file in a subprocess for
two (the CPU must be split into logical devices before TensorFlow initialises). It prints one JSON
object: the strategy, the replica count, the inputs, the weights before and after each step and
the losses Keras reported; the test compares them with a numpy computation of the authors' update
w1 = w0 - lr * (grad of the mean cross-entropy + wd * w0), then momentum 0.9.

    python tests/helpers/sgd_step_check.py --replicas 2 [--restart-momentum]

With `restart_momentum` the two steps fall in two epochs and `train.RestartMomentum` zeroes the
momentum between them, as the authors' per-epoch `adjust_optimizer` did: the second update is
then w2 = w1 - lr * g1, without the first step's momentum.
"""

import argparse
import json
import sys

import numpy as np

LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 0.05  # large, so a wrongly scaled L2 term would show
GLOBAL_BATCH = 8
FEATURES = 5
VIEW_TO_COARSE = (0, 0, 1, 1)


def problem():
    """Seeded inputs (2 global batches), labels and initial weights."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * GLOBAL_BATCH, FEATURES)).astype("float32")
    y = rng.integers(0, len(VIEW_TO_COARSE), size=2 * GLOBAL_BATCH)
    kernel = rng.normal(scale=0.5, size=(FEATURES, len(VIEW_TO_COARSE))).astype("float32")
    bias = rng.normal(scale=0.5, size=len(VIEW_TO_COARSE)).astype("float32")
    return x, y, kernel, bias


def run_steps(strategy, restart_momentum: bool = False) -> dict:
    """Compiles with `lg_keras.train.compile_model` under `strategy`, fits 2 steps (one per
    epoch), records them; `restart_momentum` adds the trainer's RestartMomentum callback."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from lg_keras import train  # pylint: disable=import-outside-toplevel
    from lg_keras.config import TrainConfig  # pylint: disable=import-outside-toplevel

    x, y, kernel, bias = problem()
    cfg = TrainConfig(epochs=1, learning_rate=LEARNING_RATE, momentum=MOMENTUM,
                      schedule="constant")
    l2 = keras.regularizers.L2(WEIGHT_DECAY / 2)  # PyTorch weight decay wd == L2(wd / 2)
    with strategy.scope():
        model = keras.Sequential([keras.Input((FEATURES,)),
                                  keras.layers.Dense(len(VIEW_TO_COARSE), kernel_regularizer=l2,
                                                     bias_regularizer=l2, name="logits")])
        model.set_weights([kernel, bias])
        train.compile_model(model, cfg, total_steps=2,
                            view_to_coarse=np.asarray(VIEW_TO_COARSE), label_view="fine")
    weights = [[w.tolist() for w in model.get_weights()]]
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: weights.append(
            [w.tolist() for w in model.get_weights()]))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    restart = [train.RestartMomentum()] if restart_momentum else []
    history = model.fit(dataset, epochs=2, steps_per_epoch=1, shuffle=False, verbose=0,
                        callbacks=[*restart, record])
    losses = history.history["loss"]
    return {"replicas": strategy.num_replicas_in_sync, "weights": weights, "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--restart-momentum", action="store_true")
    args = parser.parse_args()
    from lg_keras import distribute  # pylint: disable=import-outside-toplevel
    from lg_keras.config import TrainConfig  # pylint: disable=import-outside-toplevel

    devices = distribute.split_cpu(args.replicas)
    strategy = distribute.make_strategy(TrainConfig(strategy="mirrored",
                                                    num_cpu_replicas=args.replicas))
    result = run_steps(strategy, args.restart_momentum)
    result.update(devices=devices, strategy=distribute.strategy_name(strategy))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
