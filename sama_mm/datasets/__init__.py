"""Datasets of SAMA-239K, referring VOS and image grounding, their checks and safe readers."""
from .check import CheckReport
from .collate import sama_collate
from .errors import DataError, PickleInputError, VideoReadError
from .refvos import RefVOSDataset
from .sama239k import SAMA239KDataset

__all__ = ['sama_collate', 'CheckReport', 'DataError', 'PickleInputError', 'VideoReadError', 'RefVOSDataset', 'SAMA239KDataset']
