"""Dataset loaders that need no network.

``digits`` and ``imdb`` return ``((x_train, y_train), (x_test, y_test))`` as Keras's
loaders do; ``weather`` returns a time series ``(values, column_names, dates)``;
``image_folder`` writes folders of digit images for ``flow_from_directory``.
"""
from course_lib.datasets import digits, image_folder, imdb, weather

__all__ = ["digits", "image_folder", "imdb", "weather"]
