"""Helpers shared by the augmentation layers' unit tests."""


def pinned(layer_class, transformation, **kwargs):
    """A ``layer_class`` whose every draw while training is ``transformation`` (what a gradient check needs)."""

    class Pinned(layer_class):
        def get_random_transformation(self, data, training=True, seed=None):
            return transformation if training else super().get_random_transformation(data, training, seed)

    Pinned.__name__ = layer_class.__name__
    return Pinned(**kwargs)


def assert_same_numbers_strictly(workflow, atol=1e-6):
    """``workflow()`` (a list of arrays) gives the same numbers under the strict stand-in for CuPy as on NumPy:
    no NumPy-only call, no host number taken from a device array."""
    import numpy as np

    from course_lib import backend

    plain = workflow()
    with backend.backend_scope("strict"):
        strict = workflow()
    assert len(plain) == len(strict)
    for a, b in zip(plain, strict):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=atol)
