"""The tf.train.Example schema of a built dataset, and its (de)serialisation.

Each record holds the image (raw pixels or JPEG/PNG bytes with height/width/channels), the fine and
coarse labels, the dataset's original label, a stable example id, the example's rank within its fine
class (for class-balanced nested fractions) and one `fine_label_noise_<r>` per noise rate r.
Cluster-derived labels (`fine_label_cluster_<k>`) are added by `lg data cluster`.
"""

import gzip
import struct
import zlib

import numpy as np

from lg_keras.errors import DataError
from lg_keras.label_views import LabelView, parse_label_view

FORMAT_VERSION = 1

IMAGE = "image/encoded"
IMAGE_FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
CHANNELS = "image/channels"
ID = "id"
FINE = "fine_label"
COARSE = "coarse_label"
SOURCE_LABEL = "source_label"
RANK = "rank_in_class"
NOISE_PREFIX = "fine_label_noise_"
CLUSTER_PREFIX = "fine_label_cluster_"

INT_FEATURES = (HEIGHT, WIDTH, CHANNELS, FINE, COARSE, SOURCE_LABEL, RANK)
BYTES_FEATURES = (IMAGE, IMAGE_FORMAT, ID)


def noise_feature(rate_name: str) -> str:
    """Feature key of a noisy fine-label variant, e.g. 'fine_label_noise_0.1'."""
    return NOISE_PREFIX + rate_name


def cluster_feature(k: int | str) -> str:
    """Feature key of cluster-derived fine labels, e.g. 'fine_label_cluster_5'."""
    return f"{CLUSTER_PREFIX}{k}"


def label_feature(label_view: str | LabelView) -> str:
    """The feature key of a label view: the one place views map to the record schema.

    'fine' -> 'fine_label', 'coarse' -> 'coarse_label', 'fine_noise_<variant>' ->
    'fine_label_noise_<variant>' (variant '0.1' or 'launched_0.1'), 'fine_cluster_<k>' ->
    'fine_label_cluster_<k>'.

    Args:
        label_view: a label view, as written or parsed (`lg_keras.label_views.parse_label_view`).

    Raises:
        ConfigError: (a ValueError) naming the view when it is not one.
    """
    view = parse_label_view(label_view) if isinstance(label_view, str) else label_view
    if view.kind == "noise":
        return noise_feature(view.variant)
    if view.kind == "cluster":
        return cluster_feature(view.cluster_key)
    return {"fine": FINE, "coarse": COARSE}[view.kind]


def count_records(path: str, compression: str = "none") -> int:
    """Counts the records of a TFRecord file from its framing, without TensorFlow.

    Each record is an 8-byte little-endian length, a 4-byte length CRC, the data and a 4-byte
    data CRC; this walks the lengths (CRCs are TensorFlow's to check when it reads the data).

    Args:
        path: the file.
        compression: 'none' or 'gzip'.

    Returns:
        The number of records.

    Raises:
        DataError: naming the file, when it ends inside a record or does not decompress.
    """
    opener = gzip.open if compression == "gzip" else open
    n = 0
    try:
        with opener(path, "rb") as f:
            while header := f.read(12):
                length = struct.unpack("<Q", header[:8])[0] if len(header) == 12 else -1
                if length < 0 or _skip(f, length + 4) != length + 4:
                    raise DataError(f"TFRecord file {path!r} is truncated inside record {n + 1}.")
                n += 1
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"Cannot read TFRecord file {path!r} after {n} records: {e}.") from e
    return n


def _skip(f, count: int) -> int:
    """Reads and drops up to `count` bytes in bounded chunks; returns how many there were."""
    done = 0
    while done < count:
        chunk = f.read(min(count - done, 1 << 20))
        if not chunk:
            break
        done += len(chunk)
    return done


def encode_example(fields: dict) -> bytes:
    """Serialises one example dict (keys as above; ints and bytes/str values) to tf.train.Example.

    Imports TensorFlow's protobuf lazily so Beam workers that only encode stay light.
    """
    from tensorflow.core.example import example_pb2, feature_pb2  # pylint: disable=g-import-not-at-top

    feature = {}
    for key, value in fields.items():
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, bytes):
            feature[key] = feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[value]))
        else:
            feature[key] = feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(value)]))
    # deterministic=True: protobuf writes a map's entries in an order that changes per process
    # (measured: same PYTHONHASHSEED, different bytes); sorted keys make a build's shards
    # byte-reproducible. The records' content is the same either way.
    return example_pb2.Example(features=feature_pb2.Features(feature=feature)).SerializeToString(
        deterministic=True)


def decode_example(serialized: bytes) -> dict:
    """Parses one serialised example into a dict of Python ints and bytes (for tests and tools)."""
    from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top

    example = example_pb2.Example.FromString(serialized)
    out = {}
    for key, feature in example.features.feature.items():
        if feature.HasField("int64_list"):
            out[key] = int(feature.int64_list.value[0])
        else:
            out[key] = bytes(feature.bytes_list.value[0])
    return out


def decode_pixels(fields: dict) -> np.ndarray:
    """Returns the uint8 HWC pixels of a decoded example dict (raw, PNG or JPEG)."""
    shape = (fields[HEIGHT], fields[WIDTH], fields[CHANNELS])
    if fields[IMAGE_FORMAT] == b"raw":
        return np.frombuffer(fields[IMAGE], np.uint8).reshape(shape)
    import io  # pylint: disable=g-import-not-at-top
    from PIL import Image  # pylint: disable=g-import-not-at-top

    image = np.asarray(Image.open(io.BytesIO(fields[IMAGE])))
    return image.reshape(image.shape[:2] + (-1,))
