"""Checkpoint loading refuses crafted pickles before they run anything, and still reads MMEngine's own checkpoints.

The gadgets use only globals that real MMEngine checkpoints hold (``builtins.getattr`` and ``HistoryBuffer``):
with the real ``getattr`` allowed, ``getattr(getattr, '__self__')`` reaches the builtins module (hence ``exec``)
and ``function.__globals__`` is a dict the pickle can write ``exec`` into, to be called by ``HistoryBuffer(...)``
during ``torch.load``. The payload creates a marker file; every loader must refuse before it exists.
"""
import copyreg
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from sama_mm.engine.checkpoint import (BlockedCheckpointObject, mmengine_checkpoint_globals,
                                       report_unreadable_checkpoint, trusted_checkpoint_loading)
from sama_mm.utils.weights import UnreadableCheckpointError, read_checkpoint, unreadable_checkpoint_error
from tests.conftest import REPO_ROOT

TOY = osp.join(REPO_ROOT, 'tests', 'data', 'configs', 'toy_regression.py')
TORCH_ADVICE = ('weights_only', 'Re-running', 'add_safe_globals', 'file an issue')


class Call:
    """Pickles as ``fn(*args)`` (REDUCE), then ``result[key] = value`` for each of ``setitems`` (SETITEMS)."""

    def __init__(self, fn, *args, setitems=None):
        self.fn, self.args, self.setitems = fn, args, setitems

    def __reduce__(self):
        return self.fn, self.args, None, None, iter(self.setitems.items()) if self.setitems else None


class Restore:
    """Pickles as ``cls.__new__(cls)`` then ``__setstate__(state)`` (NEWOBJ + BUILD), as HistoryBuffer is saved."""

    def __init__(self, cls, state):
        self.cls, self.state = cls, state

    @property
    def __class__(self):  # pickle checks that NEWOBJ's class is the object's
        return self.cls

    def __reduce__(self):
        return copyreg.__newobj__, (self.cls,), self.state


def payload(marker) -> str:
    """Source that writes ``marker``, then makes the module's ``len`` the builtin again (so the load goes on)."""
    return (f'open({str(marker)!r}, "w").write("pwned")\n'
            'def _len(obj, _builtins=__import__("builtins")):\n'
            '    globals()["len"] = _builtins.len\n'
            'globals()["len"] = _len\n')


def exec_gadget(marker, first):
    """``exec`` written over ``len`` in the globals of a HistoryBuffer function, then ``HistoryBuffer(SRC, '0')``.

    ``first`` picks the lookup the pickle makes first: ``'builtins'`` (``getattr(getattr, '__self__')``),
    ``'init'`` (``getattr(HistoryBuffer, '__init__')``) or ``'min'`` (``HistoryBuffer.min.__globals__``: its
    first lookup is one MMEngine checkpoints make, the second is not).
    """
    exec_fn = Call(getattr, Call(getattr, getattr, '__self__'), 'exec')
    function = Call(getattr, HistoryBuffer, 'min' if first == 'min' else '__init__')
    module_globals = Call(getattr, function, '__globals__', setitems={'len': exec_fn})
    trigger = Call(HistoryBuffer, payload(marker), '0')
    return [exec_fn, module_globals, trigger] if first == 'builtins' else [module_globals, trigger]


GADGETS = {
    'builtins': "getattr(builtins.getattr, '__self__') is blocked",
    'init': "getattr(mmengine.logging.history_buffer.HistoryBuffer, '__init__') is blocked",
    'min': "getattr(mmengine.logging.history_buffer.HistoryBuffer.min, '__globals__') is blocked",
}


class OsSystem:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os
        return os.system, (self.command,)


def assert_one_clear_line(message: str, path, blocked: str) -> None:
    assert message.startswith(f'{path}: cannot read the checkpoint: ') or \
        message.startswith(f'error: {path}: cannot read the checkpoint: '), message
    assert blocked in message and '\n' not in message, message
    assert not any(advice in message for advice in TORCH_ADVICE), message


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A checkpoint written by tools/train.py (toy regression, 4 iterations)."""
    from tools.train import main as train_main
    work = tmp_path_factory.mktemp('trained')
    train_main([TOY, '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=4'])
    return work / 'iter_4.pth'


@pytest.fixture(scope='module')
def evil(trained, tmp_path_factory):
    """The trained checkpoint with each gadget added (``meta['note']``) and the marker its payload would write."""
    root = tmp_path_factory.mktemp('evil')
    ckpt = torch.load(trained, map_location='cpu', weights_only=False)  # our own file, just written
    files = {}
    for first in GADGETS:
        marker = root / f'pwned_{first}'
        ckpt['meta']['note'] = exec_gadget(marker, first)
        torch.save(ckpt, root / f'{first}.pth')
        files[first] = (root / f'{first}.pth', marker)
    naive_marker = root / 'pwned_naive'
    with open(root / 'naive.pth', 'wb') as f:
        pickle.dump({'state_dict': {}, 'x': OsSystem(f'touch {naive_marker}')}, f, protocol=2)
    files['naive'] = (root / 'naive.pth', naive_marker)
    return files


def test_allow_list_has_no_raw_getattr_or_history_buffer():
    entries = mmengine_checkpoint_globals()
    objects = [e[0] if isinstance(e, tuple) else e for e in entries]
    assert getattr not in objects and HistoryBuffer not in objects
    names = {e[1] for e in entries if isinstance(e, tuple)}
    assert names == {'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer'}


@pytest.mark.parametrize('first', list(GADGETS))
def test_read_checkpoint_refuses_exec_gadgets(evil, first):
    path, marker = evil[first]
    with pytest.raises(UnreadableCheckpointError) as info:
        read_checkpoint(str(path))
    assert not marker.exists()
    assert_one_clear_line(str(info.value), path, GADGETS[first])
    # torch.load itself (any caller inside trusted_checkpoint_loading) raises before the payload runs too.
    with trusted_checkpoint_loading(), pytest.raises(pickle.UnpicklingError) as info:
        torch.load(path, map_location='cpu')
    assert not marker.exists()
    assert isinstance(info.value.__context__, BlockedCheckpointObject)
    assert_one_clear_line(str(unreadable_checkpoint_error(str(path), info.value)), path, GADGETS[first])


def test_naive_os_system_is_refused_naming_the_global(evil):
    path, marker = evil['naive']
    with pytest.raises(UnreadableCheckpointError) as info:
        read_checkpoint(str(path))
    assert not marker.exists()
    assert_one_clear_line(str(info.value), path, 'GLOBAL posix.system, which is blocked')


def test_mmengine_loaders_refuse(evil):
    """``load_from``, ``Runner.load_checkpoint`` and ``--resume`` read through MMEngine's checkpoint loader."""
    from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint

    from sama_mm.engine.checkpoint import register_safetensors_loading
    register_safetensors_loading()
    path, marker = evil['init']
    model = torch.nn.Linear(4, 1)
    for load in (lambda: _load_checkpoint(str(path), map_location='cpu'),
                 lambda: load_checkpoint(model, str(path), map_location='cpu')):
        with trusted_checkpoint_loading(), pytest.raises(pickle.UnpicklingError) as info:
            load()
        assert not marker.exists()
        assert_one_clear_line(str(unreadable_checkpoint_error(str(path), info.value)), path, GADGETS['init'])


def test_tools_refuse_before_the_payload_runs(evil, tmp_path):
    """tools/test.py, tools/train.py --resume and tools/convert/to_hf.py."""
    from tools.convert.to_hf import main as to_hf_main
    from tools.test import main as test_main
    from tools.train import main as train_main
    path, marker = evil['builtins']
    with pytest.raises(SystemExit) as info:
        test_main([TOY, str(path), '--work-dir', str(tmp_path / 'test')])
    assert_one_clear_line(str(info.value.code), path, GADGETS['builtins'])
    assert not marker.exists()
    # tools/train.py (until it calls report_unreadable_checkpoint: torch's error, which names the refusal too).
    with pytest.raises((SystemExit, pickle.UnpicklingError)) as info:
        train_main([TOY, '--work-dir', str(tmp_path / 'train'), '--resume', str(path)])
    assert GADGETS['builtins'] in str(info.value.code if info.type is SystemExit else info.value)
    assert not marker.exists()
    from tests.apis.helpers import SAMA_TINY_CONFIG
    with pytest.raises(UnreadableCheckpointError) as info:
        to_hf_main([str(tmp_path), str(tmp_path / 'hf'), '--config', SAMA_TINY_CONFIG, '--checkpoint', str(path)])
    assert_one_clear_line(str(info.value), path, GADGETS['builtins'])
    assert not marker.exists()


def test_inferencer_refuses(evil):
    """SAMAInferencer: the loader of tools/chat.py, tools/web_demo.py and the Python API."""
    from sama_mm.apis.inference import SAMAInferencer
    from tests.apis.helpers import SAMA_TINY_CONFIG
    path, marker = evil['min']
    with pytest.raises(ValueError) as info:
        SAMAInferencer(SAMA_TINY_CONFIG, str(path))
    assert not marker.exists()
    assert_one_clear_line(str(info.value), path, GADGETS['min'])


def test_report_unreadable_checkpoint_makes_resume_one_line(evil, tmp_path):
    """What tools/train.py gets by calling ``report_unreadable_checkpoint(runner)`` before ``runner.train()``."""
    from tools.train import build_cfg, build_runner, parse_args
    for name, blocked in (('init', GADGETS['init']), ('naive', 'GLOBAL posix.system, which is blocked')):
        path, marker = evil[name]
        runner = build_runner(build_cfg(parse_args([TOY, '--work-dir', str(tmp_path / name), '--resume',
                                                    str(path)])))
        report_unreadable_checkpoint(runner)
        with pytest.raises(SystemExit) as info:
            runner.train()
        assert_one_clear_line(str(info.value.code), path, blocked)
        assert not marker.exists()


def history_buffer_pickle(tmp_path, obj):
    path = tmp_path / 'buffer.pth'
    torch.save({'state_dict': {}, 'message_hub': {'log_scalars': {'loss': obj}}}, path)
    return path


@pytest.mark.parametrize('obj, blocked', [
    (Restore(HistoryBuffer, dict(max_length=5, _log_history=np.ones(1), _count_history=np.ones(1),
                                 statistics_methods={'mean': HistoryBuffer.max})),
     "HistoryBuffer statistics method 'mean' = mmengine.logging.history_buffer.HistoryBuffer.max is blocked"),
    (Restore(HistoryBuffer, dict(statistics_methods={'median': HistoryBuffer.min})),
     "HistoryBuffer statistics method 'median' = mmengine.logging.history_buffer.HistoryBuffer.min is blocked"),
    (Restore(HistoryBuffer, dict(max_length=5, statistics=HistoryBuffer.min)),
     "HistoryBuffer state key 'statistics' is blocked"),
    (Call(HistoryBuffer, [1.0], [1]), 'HistoryBuffer(...) called from a checkpoint is blocked'),
])
def test_history_buffer_cannot_write_into_its_class(tmp_path, obj, blocked):
    """HistoryBuffer.__setstate__ updates a dict shared by every buffer of the process: only MMEngine's own
    statistics methods get there, and a buffer holds only the attributes MMEngine writes."""
    HistoryBuffer()  # registers the default statistics
    before = dict(HistoryBuffer._statistics_methods)
    path = history_buffer_pickle(tmp_path, obj)
    with pytest.raises(UnreadableCheckpointError) as info:
        read_checkpoint(str(path))
    assert_one_clear_line(str(info.value), path, blocked)
    assert HistoryBuffer._statistics_methods == before


def test_checkpoints_written_by_train_still_load_and_resume(trained, tmp_path):
    from tools.train import main as train_main
    HistoryBuffer()
    before = dict(HistoryBuffer._statistics_methods)
    assert set(read_checkpoint(str(trained))) == {'linear.weight', 'linear.bias'}
    with trusted_checkpoint_loading():
        with trusted_checkpoint_loading():  # a nested use leaves the outer allow-list in place
            pass
        ckpt = torch.load(trained, map_location='cpu')
    buffers = ckpt['message_hub']['log_scalars']
    assert buffers and all(type(b) is HistoryBuffer for b in buffers.values())
    assert buffers['train/loss'].statistics('mean') == buffers['train/loss'].mean()
    assert HistoryBuffer._statistics_methods == before
    work = tmp_path / 'resumed'
    train_main([TOY, '--work-dir', str(work), '--resume', str(trained), '--cfg-options', 'train_cfg.max_iters=8'])
    assert read_checkpoint(str(work / 'iter_8.pth')).keys() == {'linear.weight', 'linear.bias'}
    with trusted_checkpoint_loading():
        assert torch.load(work / 'iter_8.pth', map_location='cpu')['meta']['iter'] == 8


def test_a_raw_getattr_registered_elsewhere_is_refused():
    with torch.serialization.safe_globals([getattr]):
        with pytest.raises(RuntimeError, match=r'safe globals allow builtins\.getattr as builtins\.getattr'):
            with trusted_checkpoint_loading():
                pass


def test_an_allowed_global_called_with_crafted_arguments_is_one_line(tmp_path):
    path = history_buffer_pickle(tmp_path, Call(np.dtype, 'no such type'))
    with pytest.raises(UnreadableCheckpointError) as info:
        read_checkpoint(str(path))
    assert_one_clear_line(str(info.value), path, "TypeError: data type 'no such type' not understood")
