"""Data preparation on the host, with Keras's names: images (augmentation), sequences (padding, time-series windows) and text.

``course_lib.preprocessing.sequence.pad_sequences`` and
``course_lib.preprocessing.text.Tokenizer`` are Keras 2's spellings;
``course_lib.utils.pad_sequences`` is Keras 3's. Likewise
``course_lib.preprocessing.image.ImageDataGenerator`` and ``load_img`` are
Keras 2's spellings (Keras 3 keeps them), and ``image_dataset_from_directory``,
``text_dataset_from_directory`` and ``timeseries_dataset_from_array`` are
importable from here as from ``course_lib.utils``, as in Keras.
"""
from course_lib.preprocessing import image, sequence, text
from course_lib.utils.image_dataset import image_dataset_from_directory
from course_lib.utils.text_dataset import text_dataset_from_directory
from course_lib.utils.timeseries import timeseries_dataset_from_array

__all__ = ["image", "image_dataset_from_directory", "sequence", "text", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]
