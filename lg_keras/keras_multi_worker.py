"""Two fixes to Keras 3's TensorFlow trainer, without which `fit` fails on several workers.

Under `tf.distribute.MultiWorkerMirroredStrategy` with two or more workers, `model.fit` in
keras 3.15.1 (the code is the same on Keras' master branch in August 2026) fails twice:

1. `fit` and `evaluate` start with `TensorFlowTrainer._maybe_symbolic_build`, which turns the first
   distributed batch into one batch by `strategy.reduce("MEAN", (x, y), axis=None)`.
   `Strategy.reduce` takes one value, not a nest (TensorFlow's own "TODO: support `value` being a
   nest"); MirroredStrategy's `_reduce_to` maps over nests anyway, but the multi-worker one hands
   the tuple to `CollectiveAllReduce.reduce`, where `_make_tensor_into_per_replica` calls
   `convert_to_tensor` on it:
   "ValueError: Attempt to convert a value (PerReplica:{...}) with an unsupported type
   (<class 'tensorflow.python.distribute.values.PerReplica'>) to a Tensor."
2. Every train and test step then reduces its outputs (each replica's metric results: scalars) by
   `strategy.reduce("MEAN", v, axis=0)` when there are several workers: "Invalid reduction
   dimension 0 for input with 0 dimensions".

`install` replaces the two, for multi-worker strategies only (any other strategy runs Keras' own
code): the symbolic build takes the first local replica's batch (it reads only shapes and dtypes,
so nothing crosses the network), and step outputs are averaged over all replicas of all workers
(axis None), which is what Keras computes over the local replicas of a MirroredStrategy. The
epoch figures that reach history.json do not come from these step outputs: Keras reads them from
the metrics' variables at the end of the epoch, summed over every replica.
"""

import importlib

import keras
import tensorflow as tf

from lg_keras.distribute import is_multi_worker

# The module whose functions `install` replaces (imported there: Keras' private layout is only
# touched by multi-worker runs) and the originals it keeps.
_TRAINER_MODULE = "keras.src.backend.tensorflow.trainer"
_ORIGINAL = {}


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    strategy = self._distribute_strategy  # pylint: disable=protected-access
    if iterator is not None and is_multi_worker(strategy):
        for _, _, batches in iterator:
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0], next(batches))
            break
        iterator = None
    return _ORIGINAL["build"](self, iterator=iterator, data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and is_multi_worker(strategy):
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _ORIGINAL["reduce"](values, strategy, reduction)


def install() -> None:
    """Installs both fixes into Keras' TensorFlow trainer (idempotent).

    Raises:
        RuntimeError: this Keras version lacks the functions the fixes replace.
    """
    if _ORIGINAL:
        return
    try:
        tf_trainer = importlib.import_module(_TRAINER_MODULE)
    except ImportError:
        tf_trainer = None
    trainer_class = getattr(tf_trainer, "TensorFlowTrainer", None)
    build = getattr(trainer_class, "_maybe_symbolic_build", None)
    reduce = getattr(tf_trainer, "reduce_per_replica", None)
    if build is None or reduce is None:
        raise RuntimeError(
            f"keras {keras.__version__} has no {_TRAINER_MODULE}.TensorFlowTrainer."
            f"_maybe_symbolic_build or .reduce_per_replica, which lg_keras.keras_multi_worker "
            f"fixes for multi-worker training; check whether this Keras still needs the fixes.")
    _ORIGINAL.update(build=build, reduce=reduce)
    trainer_class._maybe_symbolic_build = _maybe_symbolic_build  # pylint: disable=protected-access
    tf_trainer.reduce_per_replica = _reduce_per_replica
