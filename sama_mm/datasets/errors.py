"""Errors raised for bad data, each naming the file, the record and what was expected."""
from typing import Optional, Union


class DataError(ValueError):
    """Bad input data.

    Args:
        kind: A short machine-readable problem kind (``missing_video``, ``malformed_rle``, ...).
        file: The file the problem is in (or about).
        message: What is wrong and what was expected.
        record: The record index or id inside ``file``, if the problem belongs to one record.
    """

    def __init__(self, kind: str, file: str, message: str, record: Optional[Union[int, str]] = None):
        self.kind = kind
        self.file = str(file)
        self.record = record
        self.message = message
        where = self.file if record is None else f'{self.file} record {record}'
        super().__init__(f'[{kind}] {where}: {message}')


class PickleInputError(DataError):
    """A pickle was given where a safe format is required."""


class VideoReadError(DataError):
    """A video file or frame folder is missing, unreadable or inconsistent."""
