"""Dataset loaders that need no network.

``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``imdb``, ``reuters``,
``boston_housing`` and ``california_housing`` are Keras's ``keras.datasets``
loaders, with the same names and arguments: they read the files Keras caches in
``$KERAS_HOME/datasets`` (``~/.keras/datasets``) and download nothing. Without
Keras's file, ``mnist`` falls back to a stand-in made of scikit-learn's digits
and ``imdb`` to the course's corpus of reviews (their ``source()`` says which);
the others raise a ``FileNotFoundError`` that says what is expected where.
``digits`` and the loaders above return ``((x_train, y_train), (x_test, y_test))``;
``weather`` returns a time series ``(values, column_names, dates)``;
``image_folder`` writes folders of digit images for ``flow_from_directory``.
"""
from course_lib.datasets import (boston_housing, california_housing, cifar10, cifar100, digits, fashion_mnist,
                                 image_folder, imdb, keras_cache, mnist, reuters, weather)

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "digits", "fashion_mnist", "image_folder",
           "imdb", "keras_cache", "mnist", "reuters", "weather"]
