"""Base class of datasets whose annotation parser collects every problem instead of stopping at the first."""
from abc import ABCMeta, abstractmethod
from typing import List, Tuple

from mmengine.dataset import BaseDataset

from .check import CheckReport, raise_first
from .errors import DataError


class CheckedDataset(BaseDataset, metaclass=ABCMeta):
    """A dataset that can both load (failing on the first bad record) and report all its problems.

    Subclasses implement :meth:`parse_annotations` (format checks only, no file access beyond the annotation)
    and :meth:`check` (format plus the files on disk), used by ``tools/check_dataset.py``.
    """

    @abstractmethod
    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        """Parse the annotation file.

        Returns:
            tuple: ``(data_infos, problems, number_of_raw_entries)``.
        """

    @abstractmethod
    def check(self) -> CheckReport:
        """Check every entry against the format and the files on disk."""

    def load_data_list(self) -> List[dict]:
        """Parse the annotations; the first format problem is raised as a :class:`DataError`."""
        infos, problems, _ = self.parse_annotations()
        raise_first(problems)
        return infos
