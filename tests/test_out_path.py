"""prepare_out_path: the --out check every tool runs before any work."""
import os
import re

import pytest

from sama_mm.utils.cli import prepare_out_path


def test_creates_the_missing_folder_and_returns_the_path(tmp_path):
    out = tmp_path / 'a' / 'b' / 'report.json'
    assert prepare_out_path(str(out)) == str(out)
    assert out.parent.is_dir() and not out.exists()
    assert prepare_out_path('report.json') == 'report.json'  # a bare name in the working directory


def test_refusals_are_one_line_os_errors(tmp_path):
    existing = tmp_path / 'report.json'
    existing.write_text('keep me')
    with pytest.raises(FileExistsError, match=re.escape(f'{existing} already exists; refusing to overwrite it')):
        prepare_out_path(str(existing))
    with pytest.raises(FileExistsError, match='refusing to overwrite'):
        prepare_out_path(str(tmp_path))  # an existing folder is not overwritten either
    below = existing / 'deeper' / 'x.json'
    with pytest.raises(NotADirectoryError, match=re.escape(
            f'cannot create the folder {below.parent} for {below}: {existing} is a file')):
        prepare_out_path(str(below))
    with pytest.raises(NotADirectoryError, match='names a folder; give the path of a file to write$'):
        prepare_out_path(str(tmp_path / 'new') + os.sep)
    assert existing.read_text() == 'keep me' and not (tmp_path / 'new').exists()


def test_emit_report_prints_and_writes_without_overwriting(tmp_path, capsys):
    from sama_mm.utils.cli import emit_report
    out = tmp_path / 'report.json'
    emit_report('{"a": 1}', str(out))
    assert out.read_text() == '{"a": 1}\n' and capsys.readouterr().out == '{"a": 1}\n'
    emit_report('{"b": 2}')  # no --out: printed only
    assert capsys.readouterr().out == '{"b": 2}\n'
    with pytest.raises(FileExistsError):
        emit_report('{"c": 3}', str(out))
    assert out.read_text() == '{"a": 1}\n'
