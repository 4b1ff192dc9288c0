"""Dataset loaders that need no network: each returns ``((x_train, y_train), (x_test, y_test))``."""
from course_lib.datasets import digits

__all__ = ["digits"]
