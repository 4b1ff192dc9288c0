"""What CIFAR-10 and CIFAR-100 share: finding Keras's cached batches and reading one (Keras's ``cifar.load_batch``).

Keras 3's ``get_file(..., extract=True)`` keeps the downloaded archive as
``<name>-target_archive`` and extracts it into the folder ``<name>-target/``,
whose ``<name>/`` holds the pickled batches (``<name>`` is
``cifar-10-batches-py`` or ``cifar-100-python``). Keras 2 (tf.keras up to
2.15) extracted the same batches into ``<name>/`` directly. The batches are read
from the first of these that has them all: Keras 3's folder, then its archive
(read in memory, nothing is written), then Keras 2's folder.
"""
import io
import os
import tarfile

from course_lib.datasets.keras_cache import cached, missing, read_pickle


def _places(inner):
    """``(kind, path)`` of the three places, in the order they are tried."""
    return (("folder", cached(inner, f"{inner}-target")), ("archive", cached(f"{inner}-target_archive")),
            ("folder", cached(inner)))


def read_batches(where, inner, names, keras_loader):
    """The unpickled batches ``names`` (dicts with str keys), from the first place that has them all.

    Raises:
        FileNotFoundError: no place has every batch.
    """
    for kind, path in _places(inner):
        if kind == "folder":
            files = [os.path.join(path, name) for name in names]
            if all(os.path.isfile(file) for file in files):
                batches = []
                for file in files:
                    with open(file, "rb") as stream:
                        batches.append(_decoded(read_pickle(stream, where)))
                return batches
        elif os.path.isfile(path) and tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                members = {member.name: member for member in archive.getmembers() if member.isfile()}
                wanted = [f"{inner}/{name}" for name in names]
                if all(name in members for name in wanted):
                    return [_decoded(read_pickle(io.BytesIO(archive.extractfile(members[name]).read()), where))
                            for name in wanted]
    expected = " or ".join(
        f"the archive {path} (holding {inner}/{', '.join(names)})" if kind == "archive"
        else f"the folder {path} (with {', '.join(names)})" for kind, path in _places(inner))
    raise missing(where, expected, keras_loader)


def _decoded(batch):
    """Keras's ``load_batch`` step: the pickle's bytes keys decoded as UTF-8."""
    return {key.decode("utf8"): value for key, value in batch.items()}


def images(batch):
    """A batch's ``data`` as Keras reshapes it: ``(samples, 3, 32, 32)``."""
    data = batch["data"]
    return data.reshape(data.shape[0], 3, 32, 32)
