"""TensorBoard's event files (事件文件), written without TensorFlow: what :class:`course_lib.callbacks.TensorBoard` writes.

An event file is a sequence of records, each ``uint64 length``, ``uint32 masked
CRC-32C of the length``, the data, ``uint32 masked CRC-32C of the data`` (the
TFRecord framing, little endian). The data of each record is one ``Event``
protocol buffer: its wall time, its step, and either the file's version
(``brain.Event:2``, the first record) or a ``Summary`` holding a tagged tensor
with the metadata that tells TensorBoard which dashboard draws it (``scalars``,
``histograms``, ``images``, ``graph_keras_model``). The few protocol-buffer fields needed
are encoded here by hand (a field is ``varint(number << 3 | wire type)`` then
its value), so course_lib needs neither TensorFlow nor ``protobuf`` to log;
TensorFlow's own reader is the test of the format.
"""
from __future__ import annotations

import itertools
import os
import socket
import struct
import time
import zlib

import numpy

__all__ = ["EventFileWriter", "crc32c", "histogram_buckets", "png", "weight_image"]

_DT_FLOAT, _DT_DOUBLE, _DT_STRING = 1, 2, 7  # TensorFlow's DataType enum
_VARINT, _FIXED64, _BYTES = 0, 1, 2  # protocol-buffer wire types
_FILE_COUNTER = itertools.count()


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli's polynomial, reflected
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, the checksum of TFRecord files."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s take ten bytes, as in protocol buffers
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire_type)
    if wire_type == _BYTES:
        return key + _varint(len(payload)) + payload
    return key + payload


def _message(number: int, payload: bytes) -> bytes:
    return _field(number, _BYTES, payload)


def _string(number: int, text) -> bytes:
    return _field(number, _BYTES, text.encode("utf-8") if isinstance(text, str) else bytes(text))


def _tensor(values) -> bytes:
    """A ``TensorProto``: dtype, shape, and the values as raw little-endian bytes.

    ``values``: a float32 or float64 array, a ``str`` (a string scalar) or a list of
    ``bytes`` (a string vector); strings go in ``string_val``.
    """
    if isinstance(values, (str, list)):
        items = [values.encode("utf-8")] if isinstance(values, str) else values
        shape = b"" if isinstance(values, str) else _message(2, _field(1, _VARINT, _varint(len(items))))
        return (_field(1, _VARINT, _varint(_DT_STRING)) + _message(2, shape)
                + b"".join(_string(8, item) for item in items))
    shape = b"".join(_message(2, _field(1, _VARINT, _varint(size))) for size in values.shape)
    dtype = {numpy.dtype("float32"): _DT_FLOAT, numpy.dtype("float64"): _DT_DOUBLE}[values.dtype]
    content = numpy.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
    return _field(1, _VARINT, _varint(dtype)) + _message(2, shape) + _string(4, content)


def _summary_value(tag: str, values, plugin: str, content: bytes = b"") -> bytes:
    plugin_data = _string(1, plugin) + (_string(2, content) if content else b"")
    return _message(1, _string(1, tag) + _message(8, _tensor(values)) + _message(9, _message(1, plugin_data)))


def png(image) -> bytes:
    """A PNG file of ``image``, ``(height, width, channels)`` uint8 with 1 (grey), 3 (RGB) or 4 (RGBA) channels."""
    image = numpy.ascontiguousarray(image, dtype=numpy.uint8)
    height, width, channels = image.shape
    colour = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + image[row].tobytes() for row in range(height))  # filter 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def histogram_buckets(values, bucket_count: int = 30) -> numpy.ndarray:
    """``(bucket_count, 3)`` float64 rows ``[left edge, right edge, count]``, as TensorBoard's histogram summary.

    ``bucket_count`` equal-width buckets from the minimum to the maximum (a value
    on the maximum counts in the last one); all values equal: every edge is that
    value and the last bucket holds them all; no values: zeros.
    """
    data = numpy.asarray(values, dtype=numpy.float64).reshape(-1)
    if data.size == 0 or bucket_count <= 0:
        return numpy.zeros((max(bucket_count, 0), 3))
    low, high = data.min(), data.max()
    if high - low == 0:
        counts = numpy.zeros(bucket_count)
        counts[-1] = data.size
        return numpy.stack([numpy.full(bucket_count, high), numpy.full(bucket_count, high), counts], axis=1)
    width = (high - low) / bucket_count
    index = numpy.minimum(numpy.floor((data - low) / width).astype(numpy.int64), bucket_count - 1)
    counts = numpy.bincount(index, minlength=bucket_count).astype(numpy.float64)
    edges = numpy.arange(bucket_count + 1) * ((high - low) / bucket_count) + low
    edges[-1] = high
    return numpy.stack([edges[:-1], edges[1:], counts], axis=1)


class EventFileWriter:
    """One event file in ``directory`` (created if missing), named as TensorFlow names them.

    ``scalar``, ``histogram`` and ``text`` append one event each; ``flush`` and
    ``close`` write them out. The file opens on the first event, so a writer
    that logs nothing leaves no file.
    """

    def __init__(self, directory):
        self.directory = str(directory)
        self.path = None
        self._file = None

    def _open(self):
        os.makedirs(self.directory, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}."
                f"{next(_FILE_COUNTER)}.v2")
        self.path = os.path.join(self.directory, name)
        self._file = open(self.path, "wb")
        self._record(_field(1, _FIXED64, struct.pack("<d", time.time())) + _string(3, "brain.Event:2"))

    def _record(self, event: bytes):
        length = struct.pack("<Q", len(event))
        self._file.write(length + struct.pack("<I", _masked_crc(length)) + event
                         + struct.pack("<I", _masked_crc(event)))

    def _event(self, step: int, value: bytes):
        if self._file is None:
            self._open()
        head = _field(1, _FIXED64, struct.pack("<d", time.time()))
        if step:
            head += _field(2, _VARINT, _varint(int(step)))
        self._record(head + _message(5, value))

    def scalar(self, tag: str, value, step: int):
        """A point of the curve ``tag`` (a float32, as ``tf.summary.scalar`` stores it)."""
        self._event(step, _summary_value(tag, numpy.asarray(value, dtype=numpy.float32).reshape(()), "scalars"))

    def histogram(self, tag: str, values, step: int, buckets: int = 30):
        """The distribution of ``values`` in :func:`histogram_buckets`, as ``tf.summary.histogram`` stores it."""
        self._event(step, _summary_value(tag, histogram_buckets(values, buckets), "histograms"))

    def text(self, tag: str, text: str, step: int, plugin: str, content: bytes = b""):
        """A string tensor for ``plugin`` (the model's JSON for TensorBoard's graph dashboard)."""
        self._event(step, _summary_value(tag, str(text), plugin, content))

    def images(self, tag: str, images, step: int, max_outputs: int = 3):
        """Up to ``max_outputs`` of ``images`` ``(n, height, width, channels)``, floats in ``[0, 1]``, as
        ``tf.summary.image`` stores them: ``[width, height, png, ...]``, each value ``trunc(clip(x * 255.5))``."""
        data = numpy.asarray(images)
        data = data if data.dtype.kind == "f" else data.astype(numpy.float32)
        levels = numpy.clip(data * data.dtype.type(255.5), 0, 255).astype(numpy.uint8)  # in the images' float type
        items = [str(data.shape[2]).encode(), str(data.shape[1]).encode()]
        items += [png(image) for image in levels[:max_outputs]]
        self._event(step, _summary_value(tag, items, "images"))

    def flush(self):
        if self._file is not None:
            self._file.flush()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def weight_image(weight):
    """Keras's picture of a weight for TensorBoard: ``(images, height, width, 1)``, or None for shapes it skips.

    A bias is one row; a kernel matrix is shown wider than tall (transposed if
    needed); a weight of three axes (after squeezing) becomes one image per
    entry of its last axis, as Keras moves that axis first; other shapes (a 2-D
    convolution's kernel) are not drawn, as in Keras.
    """
    image = numpy.squeeze(weight)
    if image.ndim == 1:
        image = image.reshape(1, image.shape[0], 1, 1)
    elif image.ndim == 2:
        if image.shape[0] > image.shape[1]:
            image = image.T
        image = image.reshape(1, image.shape[0], image.shape[1], 1)
    elif image.ndim == 3:
        image = image.transpose(2, 0, 1)[..., None]
    return image if image.ndim == 4 and image.shape[-1] in (1, 3, 4) else None
