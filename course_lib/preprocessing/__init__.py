"""Data preparation on the host, with Keras's names: sequences (padding, time-series windows) and text.

``course_lib.preprocessing.sequence.pad_sequences`` and
``course_lib.preprocessing.text.Tokenizer`` are Keras 2's spellings;
``course_lib.utils.pad_sequences`` is Keras 3's.
"""
from course_lib.preprocessing import sequence, text

__all__ = ["sequence", "text"]
