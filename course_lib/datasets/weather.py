"""Real Seattle weather, with no network: the NOAA series that the ``vega_datasets`` package ships.

Two files of the package (public-domain NOAA data, MIT-licensed package):

- ``kind="daily"``: ``seattle-weather.csv``, 1,461 days from 2012-01-01 to
  2015-12-31, columns ``precipitation`` (mm), ``temp_max`` and ``temp_min``
  (degrees Celsius) and ``wind`` (m/s). (The file's ``weather`` column, a word
  such as "rain" or "sun", is not a number and is left out.)
- ``kind="hourly"``: ``seattle-temps.csv``, 8,759 hourly temperatures
  (degrees Fahrenheit) of 2010; the hour 2010-03-14 03:00, when the clocks
  went forward, is absent.

The files are read with the ``csv`` module from the installed package's folder,
without importing the package (which would import pandas).
"""
import csv
import importlib.util
import pathlib

import numpy

FILES = {"daily": "seattle-weather.csv", "hourly": "seattle-temps.csv"}
"""The vega_datasets file behind each ``kind``."""
COLUMNS = {"daily": ("precipitation", "temp_max", "temp_min", "wind"), "hourly": ("temp",)}
"""The numeric columns of each ``kind``, in the order of ``values``' columns."""
UNITS = {"precipitation": "mm", "temp_max": "degC", "temp_min": "degC", "wind": "m/s", "temp": "degF"}


def data_folder():
    """The folder of vega_datasets' files, found without importing the package."""
    spec = importlib.util.find_spec("vega_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "weather.load_data needs the vega_datasets package, which ships the Seattle weather files: "
            "pip install vega_datasets (it is in requirements.txt)"
        )
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / "_data"


def load_data(kind="daily"):
    """Load a Seattle weather series as a float32 table.

    Args:
        kind: ``"daily"`` (2012-2015: precipitation, temp_max, temp_min, wind)
            or ``"hourly"`` (2010: temp).

    Returns:
        ``(values, column_names, dates)``: ``values`` a float32 array of shape
        ``(rows, features)`` (``(1461, 4)`` daily, ``(8759, 1)`` hourly), in
        time order; ``column_names`` a list naming its columns; ``dates`` a list
        of ``rows`` ISO strings, ``"2012-01-01"`` daily or ``"2010-01-01 00:00"`` hourly.

    Raises:
        ValueError: an unknown ``kind``.
        ImportError: vega_datasets is not installed.
    """
    if kind not in FILES:
        raise ValueError(f"weather.load_data: kind must be 'daily' or 'hourly'. Received: kind={kind!r}")
    path = data_folder() / FILES[kind]
    columns = list(COLUMNS[kind])
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    values = numpy.array([[float(row[name]) for name in columns] for row in rows], dtype="float32")
    dates = [row["date"].replace("/", "-") for row in rows]
    return values, columns, dates
