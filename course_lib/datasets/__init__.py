"""Dataset loaders that need no network.

``digits`` and ``imdb`` return ``((x_train, y_train), (x_test, y_test))`` as Keras's
loaders do; ``weather`` returns a time series ``(values, column_names, dates)``.
"""
from course_lib.datasets import digits, imdb, weather

__all__ = ["digits", "imdb", "weather"]
