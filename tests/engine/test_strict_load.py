"""Strict checkpoint loading in the Runner (load_from, --resume, tools/test.py CHECKPOINT): StrictLoadHook."""
import pytest
import torch

from sama_mm.engine.hooks import check_checkpoint_fits
from sama_mm.utils.weights import StateDictMismatchError
from tests.conftest import run_tool

TOY = 'tests/data/configs/toy_regression.py'


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(5, 3)
        self.head = torch.nn.Linear(3, 5, bias=False)
        self.head.weight = self.embed.weight
        self.norm = torch.nn.BatchNorm1d(3)


def test_check_lists_missing_unexpected_and_shapes():
    model = Tied()
    state = model.state_dict()
    check_checkpoint_fits(model, state)
    # A tied tensor stored once and BatchNorm's counter may be absent.
    check_checkpoint_fits(model, {k: v for k, v in state.items() if k not in ('head.weight',
                                                                            'norm.num_batches_tracked')})
    bad = dict(state, extra=torch.zeros(1), **{'norm.weight': torch.zeros(4)})
    del bad['norm.bias']
    with pytest.raises(StateDictMismatchError) as err:
        check_checkpoint_fits(model, bad, where='ck.pth')
    assert err.value.missing == ['norm.bias'] and err.value.unexpected == ['extra']
    assert err.value.shape_errors == ['norm.weight (4,) vs model (3,)']
    assert str(err.value).startswith('ck.pth does not match the model:')


@pytest.mark.slow
def test_plain_weights_into_a_lora_model_leave_only_the_adapters_new():
    from tests.apis.test_convert import _build, _tiny_cfg
    plain = _build(_tiny_cfg(neck=False)).state_dict()
    lora = dict(type='LoraConfig', r=4, lora_alpha=8, lora_dropout=0.0, target_modules=['q_proj', 'v_proj'])
    model = _build(_tiny_cfg(neck=False, lora=lora))
    new = check_checkpoint_fits(model, plain)
    assert new and all('lora_' in k for k in new)
    # A LoRA checkpoint must hold every adapter, and a plain one every base weight.
    with_lora = model.state_dict()
    with pytest.raises(StateDictMismatchError, match='1 missing keys: .*lora_A'):
        check_checkpoint_fits(model, {k: v for k, v in with_lora.items() if k != new[0]})
    with pytest.raises(StateDictMismatchError, match='missing keys: backbone.language_model'):
        check_checkpoint_fits(model, {k: v for k, v in plain.items() if 'layers.0.mlp.up_proj' not in k})


def test_load_from_and_resume_of_another_model_stop_with_the_key_list(tmp_path):
    """Without the hook, MMEngine only warns and trains/tests on a half-random model (rc 0)."""
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'linear.weight': torch.zeros(2, 1), 'linear.bias': torch.zeros(1),
                                'head.weight': torch.zeros(1)}, meta=dict(epoch=0, iter=1)), other)
    proc = run_tool('tools/train.py', TOY, '--work-dir', tmp_path / 'w', '--cfg-options', 'train_cfg.max_iters=2',
                    f'load_from={other}')
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert err[-3:] == [f'error: {other} does not match the model:', '  1 unexpected keys: head.weight',
                        '  1 shape mismatches: linear.weight (2, 1) vs model (1, 1)']
    assert 'Traceback' not in proc.stderr
    proc = run_tool('tools/train.py', TOY, '--work-dir', tmp_path / 'r', '--resume', other)
    assert proc.returncode == 1 and 'error: ' + str(other) + ' does not match the model' in proc.stderr
    assert not list((tmp_path / 'r').glob('*.pth'))
    proc = run_tool('tools/test.py', TOY, other, '--work-dir', tmp_path / 't', '--out', tmp_path / 'm.json')
    assert proc.returncode == 1 and 'does not match the model' in proc.stderr
    assert not (tmp_path / 'm.json').exists()
