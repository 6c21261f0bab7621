"""Compute figures of `make bench`: matmul peak, counted FLOPs and Keras training throughput.

- Peak: the best GFLOP/s of a float32 `tf.linalg.matmul` of two N x N matrices (2 N^3 FLOPs each),
  the practical limit of this CPU for dense float32 work.
- FLOPs: COUNTED from the model's layer shapes, one multiply-add = 2 FLOPs: every Conv2D
  (2 * H_out * W_out * k_h * k_w * C_in * C_out) and Dense (2 * in * out). BatchNorm, ReLU, adds
  and pooling are left out (memory-bound, under 1 % of the multiply-adds). A training step is
  counted as 3x the forward pass (forward, gradient w.r.t. inputs, gradient w.r.t. weights).
- Throughput: `model.fit` on one synthetic batch repeated from memory, the model compiled exactly
  as a real run compiles it (`lg_keras.train.compile_model`: SGD momentum, the step schedule, the
  L2 regularisers and the training metrics). A callback stamps each step's end; the first
  `warmup` steps (tracing, oneDNN primitive creation) are excluded.
"""

import time

import keras
import numpy as np
import tensorflow as tf

from lg_keras import train
from lg_keras.config import ModelConfig, TrainConfig
from lg_keras.models import build_model
from lg_keras.models.layers import policy_scope

IMAGE_SHAPE = (32, 32, 3)


def configure_threads(intra: int, inter: int) -> None:
    """Sets TensorFlow's intra- and inter-op thread pools (before any op runs)."""
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def matmul_gflops(size: int, reps: int) -> float:
    """The best GFLOP/s of `reps` float32 size x size matmuls (after one untimed)."""
    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    matmul = tf.function(tf.linalg.matmul)
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9


def forward_flops(model: keras.Model) -> int:
    """Counted FLOPs of one image's forward pass (Conv2D and Dense multiply-adds x 2)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            k_h, k_w, in_channels, _ = layer.kernel.shape
            total += 2 * height * width * k_h * k_w * in_channels * out_channels
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return int(total)


class _StepClock(keras.callbacks.Callback):
    """Stamps the end of every training step; stops `max_seconds` after the warm-up steps."""

    def __init__(self, warmup: int, max_seconds: float):
        super().__init__()
        self.stamps, self._warmup, self._max_seconds = [], warmup, max_seconds

    def on_train_batch_end(self, batch, logs=None):
        if logs:  # Reading a logged value waits for the step to finish.
            float(next(iter(logs.values())))
        self.stamps.append(time.perf_counter())
        if len(self.stamps) > self._warmup + 1:
            self.model.stop_training = (
                self.stamps[-1] - self.stamps[self._warmup - 1] > self._max_seconds)


class KerasBench:
    """One PreActResNet18 compiled as a real run, timed with `model.fit` on a synthetic batch.

    Args:
        width: base width (64: the paper's CIFAR-10 network; 16: the thin ImageNet-subset one).
        batch: batch size.
        num_classes: logits (the CIFAR-10 10 classes, as the PyTorch reference).
        policy: Keras dtype policy of the layers ('mixed_bfloat16', 'mixed_float16').
    """

    def __init__(self, width: int, batch: int, num_classes: int = 10, policy: str = "float32"):
        self.width, self.batch, self.policy = width, batch, policy
        keras.utils.set_random_seed(0)
        with policy_scope(policy):
            self.model = build_model(ModelConfig(name="preact_resnet18", width=width), num_classes,
                                     IMAGE_SHAPE)
        view_to_coarse = np.arange(num_classes) // 2
        train.compile_model(self.model, TrainConfig(), 10 ** 6, view_to_coarse, "fine")
        images = tf.random.normal((batch, *IMAGE_SHAPE), seed=3)
        labels = tf.random.uniform((batch,), 0, num_classes, tf.int64, seed=4)
        self.dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
        self.flops_per_image = forward_flops(self.model)

    def images_per_second(self, steps: int, warmup: int, max_seconds: float = 1e9) -> dict:
        """Trains `warmup + steps` steps; returns images/s over the steps after the warm-up.

        Args:
            steps: timed steps.
            warmup: untimed steps first, >= 1 (the first step traces the graph).
            max_seconds: stop timing after the first timed step that ends past this (a loaded
                machine then still finishes the bench in time).

        Returns:
            {'images_per_second', 'step_seconds': per timed step}.
        """
        assert warmup >= 1, warmup
        clock = _StepClock(warmup, max_seconds)
        self.model.fit(self.dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0,
                       shuffle=False, callbacks=[clock])
        seconds = np.diff(clock.stamps[warmup - 1:])
        return {"images_per_second": self.batch * len(seconds) / float(np.sum(seconds)),
                "step_seconds": [round(float(s), 4) for s in seconds]}
