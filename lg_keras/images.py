"""Per-example image preparation for the dataset builder: read, validate, measure, encode.

Pure per-element functions (PIL + numpy), called by the Beam builder for each example so a corrupt
image fails the job with its id and file name rather than reaching training.
"""

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from lg_keras.errors import DataError
from lg_keras.sources.base import RawExample

# Decompression-bomb guard: the largest ImageNet images are far below this.
Image.MAX_IMAGE_PIXELS = 100_000_000


def read_payload(raw: RawExample) -> bytes:
    """Returns the example's bytes, reading its file when the source gave a path."""
    if raw.payload is not None:
        return raw.payload
    try:
        with open(raw.path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"Cannot read image {raw.path!r} (example {raw.id!r}): {e}.") from e


def read_size(raw: RawExample) -> tuple[int, int]:
    """(height, width) of an example's image from its header, without decoding the pixels.

    Raises:
        DataError: naming the example when the header cannot be read.
    """
    if raw.format == "raw":
        return int(raw.shape[0]), int(raw.shape[1])
    try:
        with Image.open(io.BytesIO(read_payload(raw))) as image:
            return int(image.height), int(image.width)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        where = f"example {raw.id!r}" + (f" (file {raw.path!r})" if raw.path else "")
        raise DataError(f"Image of {where} has no readable {raw.format} header: {e}.") from e


def decode_pixels(raw: RawExample, payload: bytes) -> tuple[np.ndarray, bool]:
    """Decodes an example's payload to uint8 HWC pixels (1 or 3 channels).

    Returns:
        (pixels, converted): converted is True when the file's colour mode (CMYK, palette, alpha)
        had to be converted to RGB, so its stored bytes no longer match the decoded shape.

    Raises:
        DataError: naming the example and file when the bytes do not decode or the shape is wrong.
    """
    where = f"example {raw.id!r}" + (f" (file {raw.path!r})" if raw.path else "")
    if raw.format == "raw":
        h, w, c = raw.shape
        if len(payload) != h * w * c:
            raise DataError(f"Raw image of {where} has {len(payload)} bytes; shape {raw.shape} "
                            f"needs {h * w * c}.")
        return np.frombuffer(payload, np.uint8).reshape(h, w, c), False
    try:
        with warnings.catch_warnings():  # PIL only warns up to twice MAX_IMAGE_PIXELS ...
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))
        with image:
            # ... so refuse from MAX_IMAGE_PIXELS on, before decoding.
            if image.width * image.height > Image.MAX_IMAGE_PIXELS:
                raise DataError(f"Image of {where} is {image.width}x{image.height} pixels, over "
                                f"the limit of {Image.MAX_IMAGE_PIXELS:,} (a decompression bomb?).")
            image.load()
            converted = image.mode not in ("L", "RGB")
            if converted:
                image = image.convert("RGB")
            pixels = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as e:
        raise DataError(f"Image of {where} does not decode as {raw.format}: {e}.") from e
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise DataError(f"Image of {where} has an empty shape {pixels.shape}.")
    return pixels, converted


def encode_pixels(pixels: np.ndarray, encoding: str) -> tuple[bytes, str]:
    """Encodes pixels as 'raw' bytes or lossless 'png'; returns (bytes, format)."""
    if encoding == "raw":
        return np.ascontiguousarray(pixels, np.uint8).tobytes(), "raw"
    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue(), "png"


def prepare_image(raw: RawExample, encoding: str) -> tuple[bytes, str, tuple[int, int, int], np.ndarray]:
    """Reads, validates and encodes one example's image.

    Args:
        raw: the example as the source yields it.
        encoding: 'auto' (keep the source's bytes), 'raw' or 'png'.

    Returns:
        (image bytes, format, (height, width, channels), pixel moments) where the moments are a
        float64 array [sum_r, sum_g, sum_b, sumsq_r, sumsq_g, sumsq_b, pixel_count] over [0, 1]
        values (grey images count towards all three channels).
    """
    payload = read_payload(raw)
    pixels, converted = decode_pixels(raw, payload)
    if encoding == "auto" and not converted:
        # Keep the source's bytes: raw pixels stay raw, JPEG/PNG files are not re-encoded (no
        # further loss). A converted (e.g. CMYK) file is re-encoded as PNG to match its shape.
        data, fmt = payload, raw.format
    else:
        data, fmt = encode_pixels(pixels, "png" if encoding == "auto" else encoding)
    values = pixels.astype(np.float64) / 255.0
    flat = values.reshape(-1, values.shape[2])
    if flat.shape[1] == 1:
        flat = np.repeat(flat, 3, axis=1)
    moments = np.concatenate([flat.sum(0), (flat ** 2).sum(0), [flat.shape[0]]])
    return data, fmt, tuple(int(x) for x in pixels.shape), moments

