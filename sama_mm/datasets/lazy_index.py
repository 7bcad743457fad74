"""On-disk indexes of large annotation files, read one record (or one mask-dict key) at a time.

An index is a folder (``<name>.index/``) written once by ``data_converters/build_annotation_index.py``:

* ``records.jsonl``: one compact JSON value per line (a record of a JSON list, or a mask-dict value);
* ``offsets.npy``: ``int64 [N + 1]`` byte offsets of the lines (memory-mapped, 8 bytes per record);
* ``lengths.npy``: ``int32 [N]`` estimated token lengths of the records (record indexes only), for
  length-grouped sampling without reading the records;
* ``keys.json``: the mask-dict keys in line order (mask-dict indexes only);
* ``meta.json``: ``{"version", "kind": "records"|"mask_dict", "count", "source", "source_size",
  "source_mtime_ns"}``.

Why JSON lines + a numpy offsets array rather than sqlite (standard library) or a library such as LMDB:
reading record ``i`` is one ``seek`` + one ``read`` + ``json.loads`` of that line, with no database engine, no
locks to share between forked data loader workers and no extra dependency; the offsets array is memory-mapped,
so a dataset object holds only paths and a small mmap and pickles in bytes (MMEngine's ``serialize_data`` would
otherwise pickle 239K dicts into one buffer per process). The lines stay human-readable and greppable.

Building streams the source JSON list with :func:`iter_json_list` (``json.JSONDecoder.raw_decode`` over a
sliding buffer), so the converter never holds the whole list either.
"""
import json
import os
import os.path as osp
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from .errors import DataError

INDEX_VERSION = 1
_CHUNK = 1 << 20


def iter_json_list(path: str, chunk_size: int = _CHUNK) -> Iterator[Any]:
    """Yield the elements of a top-level JSON list one by one, reading the file in chunks.

    The standard library has no streaming JSON parser; ``raw_decode`` on a buffer that is refilled when an
    element is incomplete gives one with bounded memory (one element plus one chunk).

    Raises:
        DataError: The file is not a JSON list, or is truncated/invalid (naming the element index).
    """
    for _, value in _iter_json_container(path, '[', chunk_size):
        yield value


def iter_json_object(path: str, chunk_size: int = _CHUNK) -> Iterator[Tuple[str, Any]]:
    """Yield the ``(key, value)`` items of a top-level JSON object one by one (see :func:`iter_json_list`)."""
    yield from _iter_json_container(path, '{', chunk_size)


def _iter_json_container(path: str, opener: str, chunk_size: int) -> Iterator[Tuple[Any, Any]]:
    decoder = json.JSONDecoder()
    closer = ']' if opener == '[' else '}'
    with open(path, encoding='utf-8') as f:
        buf, pos, eof = '', 0, False

        def fill():
            nonlocal buf, pos, eof
            chunk = f.read(chunk_size)
            eof = not chunk
            buf = buf[pos:] + chunk
            pos = 0

        def skip_ws():
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in ' \t\r\n':
                    pos += 1
                if pos < len(buf) or eof:
                    return
                fill()

        def decode(index):
            nonlocal pos
            skip_ws()
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    # A number at the end of the buffer may continue in the next chunk.
                    if end == len(buf) and not eof and not isinstance(value, (dict, list, str)):
                        raise ValueError
                    pos = end
                    return value
                except ValueError:
                    if eof:
                        raise DataError('invalid_json', path, 'truncated or invalid JSON element', index) from None
                    fill()

        def expect(chars, index, what):
            nonlocal pos
            skip_ws()
            if pos >= len(buf) or buf[pos] not in chars:
                got = repr(buf[pos]) if pos < len(buf) else 'end of file'
                raise DataError('invalid_json', path, f'expected {what}, got {got}', index)
            pos += 1
            return buf[pos - 1]

        fill()
        expect(opener, None, 'a JSON list of records' if opener == '[' else 'a JSON object')
        skip_ws()
        if pos < len(buf) and buf[pos] == closer:
            return
        index = 0
        while True:
            key = None
            if opener == '{':
                key = decode(index)
                if not isinstance(key, str):
                    raise DataError('invalid_json', path, 'object keys must be strings', index)
                expect(':', key, '":"')
            value = decode(index if key is None else key)
            yield key, value
            index += 1
            if expect(',' + closer, index, f'"," or "{closer}" (truncated file?)') == closer:
                return


def _source_stamp(source: str) -> Dict[str, Any]:
    stat = os.stat(source)
    return dict(source=osp.abspath(source), source_size=stat.st_size, source_mtime_ns=stat.st_mtime_ns)


def write_index(out_dir: str, values: Iterable[Any], kind: str, source: str,
                length_fn: Optional[Callable[[Any], int]] = None, keys: Optional[List[str]] = None) -> int:
    """Write an index folder from an iterable of JSON values; returns the number of values.

    Args:
        out_dir: The ``.index`` folder to create (must not exist, or be empty).
        values: The records (or mask-dict values, in the order of ``keys``).
        kind: ``'records'`` or ``'mask_dict'``.
        source: The file the values come from (recorded with its size and mtime).
        length_fn: Estimated token length of a record, stored in ``lengths.npy``.
        keys: The mask-dict keys (``kind='mask_dict'``).
    """
    if osp.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(f'{out_dir} exists and is not empty; remove it to rebuild the index')
    os.makedirs(out_dir, exist_ok=True)
    offsets, lengths = [0], []
    tmp = osp.join(out_dir, 'records.jsonl.tmp')
    with open(tmp, 'wb') as f:
        for value in values:
            line = json.dumps(value, ensure_ascii=False, separators=(',', ':')).encode('utf-8') + b'\n'
            f.write(line)
            offsets.append(offsets[-1] + len(line))
            if length_fn is not None:
                lengths.append(length_fn(value))
    os.replace(tmp, osp.join(out_dir, 'records.jsonl'))
    np.save(osp.join(out_dir, 'offsets.npy'), np.asarray(offsets, dtype=np.int64))
    if length_fn is not None:
        np.save(osp.join(out_dir, 'lengths.npy'), np.asarray(lengths, dtype=np.int32))
    if keys is not None:
        with open(osp.join(out_dir, 'keys.json'), 'w', encoding='utf-8') as f:
            json.dump([str(k) for k in keys], f)
    meta = dict(version=INDEX_VERSION, kind=kind, count=len(offsets) - 1, **_source_stamp(source))
    with open(osp.join(out_dir, 'meta.json'), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    return meta['count']


def is_index(path: str) -> bool:
    """Whether ``path`` is an index folder."""
    return osp.isfile(osp.join(path, 'meta.json')) and osp.isfile(osp.join(path, 'offsets.npy'))


class LazyRecordIndex:
    """Random access to the records of an index folder; holds no record in memory.

    Picklable (only the path travels); each process opens its own file handle on first access.

    Args:
        path: The ``.index`` folder.
        kind: The expected kind (``'records'`` or ``'mask_dict'``).

    Raises:
        DataError: The folder is not an index of that kind or version, or is incomplete.
    """

    def __init__(self, path: str, kind: str = 'records'):
        self.path = path
        if not is_index(path):
            raise DataError('missing_file', path, 'not an annotation index (no meta.json/offsets.npy); build it with '
                            'data_converters/build_annotation_index.py')
        with open(osp.join(path, 'meta.json'), encoding='utf-8') as f:
            self.meta = json.load(f)
        if self.meta.get('version') != INDEX_VERSION or self.meta.get('kind') != kind:
            raise DataError('schema', path, f'index is {self.meta.get("kind")!r} version {self.meta.get("version")}, '
                            f'expected {kind!r} version {INDEX_VERSION}; rebuild it')
        self._offsets = np.load(osp.join(path, 'offsets.npy'), mmap_mode='r')
        size = osp.getsize(osp.join(path, 'records.jsonl'))
        if len(self._offsets) != self.meta['count'] + 1 or int(self._offsets[-1]) != size:
            raise DataError('truncated_index', path, f'records.jsonl is {size} bytes but the offsets end at '
                            f'{int(self._offsets[-1])} ({len(self._offsets) - 1} of {self.meta["count"]} records); '
                            'rebuild the index')
        self._fh = None
        self._pid = None

    def __len__(self) -> int:
        return int(self.meta['count'])

    def _file(self):
        if self._fh is None or self._pid != os.getpid():  # a forked worker must not share the parent's offset
            self._fh = open(osp.join(self.path, 'records.jsonl'), 'rb')
            self._pid = os.getpid()
        return self._fh

    def raw(self, index: int) -> bytes:
        """The JSON bytes of record ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f'record {index} outside an index of {len(self)} records ({self.path})')
        index %= len(self)
        start, end = int(self._offsets[index]), int(self._offsets[index + 1])
        f = self._file()
        f.seek(start)
        return f.read(end - start)

    def __getitem__(self, index: int) -> Any:
        data = self.raw(index)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise DataError('invalid_json', osp.join(self.path, 'records.jsonl'), f'bad index line: {exc}',
                            index) from None

    def lengths(self) -> Optional[np.ndarray]:
        """The ``int32 [N]`` estimated token lengths (memory-mapped), or None if not stored."""
        path = osp.join(self.path, 'lengths.npy')
        return np.load(path, mmap_mode='r') if osp.isfile(path) else None

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_fh=None, _pid=None, _offsets=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._offsets = np.load(osp.join(self.path, 'offsets.npy'), mmap_mode='r')


class LazyMaskDict(Mapping):
    """A mask dict read per key from an index folder (``kind='mask_dict'``); a read-only Mapping.

    Only the key list is held in memory (a dict key -> line), not the RLE strings.
    """

    def __init__(self, path: str):
        self._records = LazyRecordIndex(path, kind='mask_dict')
        with open(osp.join(path, 'keys.json'), encoding='utf-8') as f:
            self._rows = {key: i for i, key in enumerate(json.load(f))}
        self.path = path

    def __getitem__(self, key):
        return self._records[self._rows[str(key)]]

    def __contains__(self, key) -> bool:
        return str(key) in self._rows

    def __iter__(self):
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def open_mask_source(path: str, record: Any = None):
    """A mask dict by path: a :class:`LazyMaskDict` for an index folder, else the cached parsed JSON."""
    if osp.isdir(path) and is_index(path):
        return LazyMaskDict(path)
    from .transforms.masks import cached_mask_dict
    return cached_mask_dict(path, record)
