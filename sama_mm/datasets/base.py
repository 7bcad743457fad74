"""Base class of datasets whose annotation parser collects every problem instead of stopping at the first."""
from abc import ABCMeta, abstractmethod
from typing import List, Tuple

from mmengine.dataset import BaseDataset

from .check import CheckReport, raise_first
from .errors import DataError


class CheckedDataset(BaseDataset, metaclass=ABCMeta):
    """A dataset that can both load (failing on the first bad record) and report all its problems.

    Subclasses implement :meth:`parse_annotations` (format checks only, no file access beyond the annotation)
    and :meth:`check_files` (the parsed records against the files on disk); :meth:`check` runs both for
    ``tools/check_dataset.py``.
    """

    @property
    def annotation_source(self) -> str:
        """The file the records are read from (named in problem reports)."""
        return self.ann_file

    @abstractmethod
    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        """Parse the annotation file.

        Returns:
            tuple: ``(data_infos, problems, number_of_raw_entries)``.
        """

    @abstractmethod
    def check_files(self, infos: List[dict], num_entries: int, report: CheckReport) -> None:
        """Check the parsed records against the files on disk, adding problems and counts to ``report``.

        Args:
            infos: The records :meth:`parse_annotations` accepted.
            num_entries: The number of raw entries of the annotation file.
            report: The report, already holding the format problems.
        """

    def check(self) -> CheckReport:
        """Check every entry against the format and the files on disk.

        A format problem that stops parsing altogether (an unreadable annotation file) ends the check with that
        one problem.
        """
        report = CheckReport(type(self).__name__, self.annotation_source)
        try:
            infos, report.problems, num_entries = self.parse_annotations()
        except DataError as exc:
            report.problems.append(exc)
            return report
        self.check_files(infos, num_entries, report)
        return report

    def load_data_list(self) -> List[dict]:
        """Parse the annotations; the first format problem is raised as a :class:`DataError`."""
        infos, problems, _ = self.parse_annotations()
        raise_first(problems)
        return infos
