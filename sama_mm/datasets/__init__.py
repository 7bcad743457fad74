"""Datasets of SAMA-239K, referring VOS and image grounding, their checks and safe readers."""
from .chatunivi import ChatUniViDataset, ChatUniViFrames
from .check import CheckReport
from .collate import sama_collate
from .errors import DataError, PickleInputError, VideoReadError
from .image import GCGDataset, GCGEvalDataset, LLaVADataset, OspreyDataset, RefCOCODataset
from .lazy_index import LazyMaskDict, LazyRecordIndex
from .mixture import MultitaskMixture
from .ref_sav import LoadRefSAVMasklet, RefSAVDataset, RefSAVToRounds
from .refvos import RefVOSDataset
from .revos import (CounterKeyedRefVOSDataset, MeViSDataset, RefDAVIS17Dataset, RefYouTubeVOSDataset,
                    ReVOSDataset)
from .sama239k import SAMA239KDataset
from .sama_bench import SAMABenchDataset
from .sama239k_index import SAMA239KIndexedDataset
from .samplers import LengthGroupedSampler, ResumableDefaultSampler, ResumableInfiniteSampler

__all__ = ['sama_collate', 'CheckReport', 'DataError', 'PickleInputError', 'VideoReadError', 'RefVOSDataset',
           'SAMA239KDataset', 'SAMA239KIndexedDataset', 'ReVOSDataset', 'CounterKeyedRefVOSDataset',
           'RefDAVIS17Dataset', 'RefCOCODataset', 'GCGDataset', 'GCGEvalDataset', 'SAMABenchDataset',
           'OspreyDataset', 'LLaVADataset', 'MultitaskMixture', 'LazyRecordIndex', 'LazyMaskDict', 'MeViSDataset',
           'RefYouTubeVOSDataset', 'RefSAVDataset', 'RefSAVToRounds', 'LoadRefSAVMasklet', 'ChatUniViDataset',
           'ChatUniViFrames', 'LengthGroupedSampler', 'ResumableDefaultSampler', 'ResumableInfiniteSampler']
