"""course_lib.utils.event_files: the checksum, the histogram buckets, the PNG encoder and the records, without
TensorFlow (tests/parity/test_tensorboard_parity.py reads the files with TensorFlow's reader)."""
import io
import struct

import numpy as np
import pytest
from PIL import Image

import course_lib as cl
from course_lib.utils import event_files
from course_lib.utils.event_files import EventFileWriter, crc32c, histogram_buckets, png


def test_crc32c_has_the_standard_check_value():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue's check value
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720's 32 zero bytes


def test_varints_are_protocol_buffer_varints():
    assert event_files._varint(1) == b"\x01"
    assert event_files._varint(300) == b"\xac\x02"
    assert event_files._varint(-1) == b"\xff" * 9 + b"\x01"  # an int64 -1 takes ten bytes


def test_histogram_buckets_count_every_value_once(rng):
    values = rng.standard_normal(1000)
    buckets = histogram_buckets(values, 30)
    assert buckets.shape == (30, 3) and buckets[:, 2].sum() == 1000
    assert buckets[0, 0] == values.min() and buckets[-1, 1] == values.max()  # the maximum is in the last bucket
    np.testing.assert_allclose(buckets[1:, 0], buckets[:-1, 1])
    width = (values.max() - values.min()) / 30
    expected = [np.sum((values >= values.min() + i * width) & (values < values.min() + (i + 1) * width))
                for i in range(30)]
    expected[-1] += np.sum(values == values.max())
    assert np.abs(buckets[:, 2] - expected).sum() <= 2  # an edge may round to either side


def test_histogram_buckets_of_one_value_and_of_nothing():
    same = histogram_buckets(np.full(7, 2.5), 4)
    np.testing.assert_array_equal(same, [[2.5, 2.5, 0], [2.5, 2.5, 0], [2.5, 2.5, 0], [2.5, 2.5, 7]])
    np.testing.assert_array_equal(histogram_buckets(np.array([]), 3), np.zeros((3, 3)))
    assert histogram_buckets(np.arange(4.0), 0).shape == (0, 3)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_decodes_to_the_same_pixels(rng, channels):
    image = rng.integers(0, 256, (5, 7, channels)).astype(np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(png(image))))
    np.testing.assert_array_equal(decoded.reshape(image.shape), image)


def _records(path):
    """The data of every record of a TFRecord file, with both checksums verified."""
    data, out = open(path, "rb").read(), []
    while data:
        length_bytes = data[:8]
        (length,) = struct.unpack("<Q", length_bytes)
        assert struct.unpack("<I", data[8:12])[0] == event_files._masked_crc(length_bytes)
        body = data[12:12 + length]
        assert struct.unpack("<I", data[12 + length:16 + length])[0] == event_files._masked_crc(body)
        out.append(body)
        data = data[16 + length:]
    return out


def test_a_writer_frames_its_events_and_opens_a_file_only_when_it_logs(tmp_path):
    writer = EventFileWriter(tmp_path / "train")
    writer.close()
    assert not (tmp_path / "train").exists()
    writer = EventFileWriter(tmp_path / "train")
    writer.scalar("epoch_loss", 0.25, step=3)
    writer.histogram("w", np.arange(10.0), step=3)
    writer.close()
    records = _records(writer.path)
    assert len(records) == 3 and b"brain.Event:2" in records[0]
    assert b"epoch_loss" in records[1] and b"scalars" in records[1] and struct.pack("<f", 0.25) in records[1]
    assert b"histograms" in records[2]
    assert "events.out.tfevents." in writer.path and writer.path.endswith(".v2")


def test_the_callback_logs_without_tensorflow_s_help(tmp_path):
    # Only course_lib: the files appear, framed and checked; their contents are compared with tf.keras's in
    # tests/parity/test_tensorboard_parity.py.
    cl.utils.set_random_seed(0)
    model = cl.Sequential([cl.Input((2,)), cl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((8, 2)).astype("float32")
    model.fit(x, x[:, :1], epochs=2, validation_split=0.25, verbose=0,
              callbacks=[cl.callbacks.TensorBoard(tmp_path, histogram_freq=1)])
    train = list((tmp_path / "train").glob("events.out.tfevents.*"))
    validation = list((tmp_path / "validation").glob("events.out.tfevents.*"))
    assert len(train) == 1 and len(validation) == 1
    records = _records(train[0])
    assert sum(b"epoch_loss" in record for record in records) == 2  # one per epoch
    assert sum(b"/histogram" in record for record in records) == 4  # kernel and bias, each epoch
    assert any(b"graph_keras_model" in record for record in records)
