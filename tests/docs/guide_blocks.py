"""Read the fenced blocks of the guides in ``docs/`` and run or check them (used by ``tests/docs/test_guides.py``).

Marker convention: an HTML comment on its own line right before a fenced block (blank lines may separate them)
says what the docs test does with the block. Markdown renderers hide the comment.

``<!-- docs-test: run -->``
    A ``bash`` block is executed; a ``python`` block is fed to ``python -``. All run blocks of a guide form one
    bash script (``set -euo pipefail``), in document order, from the top of a working copy of the repository,
    as a reader pasting them into one terminal would (shell variables and ``cd`` carry over).
``<!-- docs-test: check (REASON) -->``
    The block needs what CI lacks (the real data sets, a GPU, a cluster); REASON says what. It is not run but
    every command is checked: ``python SCRIPT ARGS`` must name an existing script whose argument parser
    accepts ARGS, and the config it names (``config`` / ``--config``) must load with ``Config.fromfile`` after
    its ``--cfg-options``; ``bash SCRIPT`` must exist and pass ``bash -n`` (the launch scripts' arguments are
    checked against the Python tool they forward to); ``torchrun`` is checked through its ``.py`` target.
    A ``python`` block is compiled and its ``sama_mm`` imports must resolve.
``<!-- docs-test: file PATH -->``
    The block's text is written to PATH (relative to the working copy) at that point of the run script, so a
    guide can show a config or a module and then use it.

A line ``<!-- docs-test: after GUIDE -->`` anywhere in a guide makes its run blocks start in the working copy
that GUIDE's run blocks left behind (e.g. the tiny checkpoint that ``get_started.md`` trains).

Every ``bash``/``sh``/``shell`` block must carry a marker, so that no command in a guide escapes the test.
"""
import argparse
import ast
import contextlib
import importlib.util
import inspect
import io
import os.path as osp
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

MARKER = re.compile(r'^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$')
FENCE = re.compile(r'^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)')
SHELL_LANGS = ('bash', 'sh', 'shell')
RUNNABLE_LANGS = SHELL_LANGS + ('python',)
#: Commands a check block may use without further checks (shell built-ins and well-known programs).
PLAIN_COMMANDS = {'cd', 'export', 'source', 'mkdir', 'ls', 'cat', 'cp', 'mv', 'rm', 'echo', 'head', 'tail', 'du',
                  'git', 'huggingface-cli', 'nvidia-smi', 'unzip', 'zip', 'tar', 'wget', 'sbatch', 'srun', 'tree'}
#: Launch scripts that forward to a Python tool: (tool, number of script positionals, how to map them).
FORWARDING_SCRIPTS = {
    'tools/dist_train.sh': ('tools/train.py', 2, lambda pos: [pos[0]]),
    'tools/dist_test.sh': ('tools/test.py', 3, lambda pos: [pos[0], pos[1]]),
    'tools/slurm_train.sh': ('tools/train.py', 4, lambda pos: [pos[2], '--work-dir', pos[3]]),
}
DOC_TERMINATOR = '__DOCS_TEST_EOF__'


class GuideError(ValueError):
    """A malformed marker or block in a guide (names the guide and the line)."""


@dataclass
class Block:
    """One fenced block of a guide.

    Attributes:
        guide: The guide's name (file name without ``.md``).
        line: 1-based line of the opening fence.
        lang: The fence's info string (``bash``, ``python``, ``json``, ...; '' when none).
        text: The block's content (without the fences).
        kind: ``'run'``, ``'check'``, ``'file'`` or None (no marker).
        arg: The reason of a check block, the path of a file block.
    """
    guide: str
    line: int
    lang: str
    text: str
    kind: Optional[str] = None
    arg: str = ''

    @property
    def where(self) -> str:
        return f'{self.guide}.md:{self.line}'


@dataclass
class Guide:
    name: str
    blocks: List[Block]
    after: Optional[str] = None


def parse_marker(body: str, where: str) -> Tuple[str, str]:
    """``'run'`` → ('run', ''), ``'check (needs a GPU)'`` → ('check', 'needs a GPU'), ``'file P'`` → ('file', P)."""
    if body == 'run':
        return 'run', ''
    m = re.fullmatch(r'check\s*\((?P<reason>[^)]+)\)', body)
    if m:
        return 'check', m.group('reason').strip()
    m = re.fullmatch(r'file\s+(?P<path>\S+)', body)
    if m:
        path = m.group('path')
        if osp.isabs(path) or '..' in path.split('/'):
            raise GuideError(f'{where}: file path {path!r} must be relative and stay inside the working copy')
        return 'file', path
    m = re.fullmatch(r'after\s+(?P<guide>[\w-]+)', body)
    if m:
        return 'after', m.group('guide')
    raise GuideError(f'{where}: unknown marker "docs-test: {body}" (run | check (REASON) | file PATH | after GUIDE)')


def parse_guide(text: str, name: str = '<string>') -> Guide:
    """Split a guide into its fenced blocks with their markers; raises GuideError for a misplaced marker."""
    lines = text.splitlines()
    blocks, pending, after = [], None, None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            kind, arg = parse_marker(m.group('body'), f'{name}.md:{i + 1}')
            if kind == 'after':
                after = arg
            else:
                if pending is not None:
                    raise GuideError(f'{name}.md:{pending[2]}: marker not followed by a fenced block')
                pending = (kind, arg, i + 1)
            i += 1
            continue
        f = FENCE.match(line)
        if f:
            fence, lang = f.group('fence'), f.group('lang')
            body = []
            j = i + 1
            while j < len(lines) and not lines[j].startswith(fence[0] * len(fence)):
                body.append(lines[j])
                j += 1
            if j == len(lines):
                raise GuideError(f'{name}.md:{i + 1}: fenced block is never closed')
            block = Block(name, i + 1, lang, '\n'.join(body) + '\n')
            if pending is not None:
                block.kind, block.arg = pending[0], pending[1]
                pending = None
            blocks.append(block)
            i = j + 1
            continue
        if pending is not None and line.strip():
            raise GuideError(f'{name}.md:{pending[2]}: marker not followed by a fenced block')
        i += 1
    if pending is not None:
        raise GuideError(f'{name}.md:{pending[2]}: marker not followed by a fenced block')
    return Guide(name, blocks, after)


def lint_guide(guide: Guide) -> List[str]:
    """Problems with the markers: unmarked shell blocks, run/check on a language we cannot execute."""
    problems = []
    for b in guide.blocks:
        if b.lang in SHELL_LANGS and b.kind is None:
            problems.append(f'{b.where}: {b.lang} block without a docs-test marker (run, or check (REASON))')
        if b.kind in ('run', 'check') and b.lang not in RUNNABLE_LANGS:
            problems.append(f'{b.where}: "{b.kind}" on a {b.lang or "plain"} block (only bash or python)')
        if b.kind == 'file' and DOC_TERMINATOR in b.text:
            problems.append(f'{b.where}: the block contains {DOC_TERMINATOR}')
    return problems


# ---------------------------------------------------------------------------------------------------- running
def run_script(guide: Guide) -> str:
    """The bash script of a guide's run and file blocks, with a progress line before each block."""
    parts = ['set -euo pipefail']
    for b in guide.blocks:
        if b.kind not in ('run', 'file'):
            continue
        parts.append(f'echo "@@docs-test {b.where} ({b.kind})" >&2')
        if b.kind == 'file':
            parts.append(f'mkdir -p "$(dirname {shlex.quote(b.arg)})"\n'
                         f"cat > {shlex.quote(b.arg)} <<'{DOC_TERMINATOR}'\n{b.text}{DOC_TERMINATOR}")
        elif b.lang == 'python':
            parts.append(f"python - <<'{DOC_TERMINATOR}'\n{b.text}{DOC_TERMINATOR}")
        else:
            parts.append(b.text)
    return '\n'.join(parts) + '\n'


def run_guide(guide: Guide, workdir: str, env: Dict[str, str], timeout: float = 1200) -> Tuple[int, str]:
    """Run the guide's script in ``workdir``; returns (exit status, output with the failing block named)."""
    try:
        proc = subprocess.run(['bash', '-c', run_script(guide)], cwd=workdir, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        rc, out, how = proc.returncode, proc.stdout, f'failed with exit status {proc.returncode}'
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors='replace') if isinstance(exc.stdout, bytes) else (exc.stdout or '')
        rc, how = -1, f'did not finish within {timeout:.0f} s'
    if rc != 0:
        starts = re.findall(r'^@@docs-test (\S+)', out, flags=re.M)
        failed = starts[-1] if starts else '(before the first block)'
        out = f'block at {failed} {how}\n--- output (tail) ---\n' + out[-8000:]
    return rc, out


# ---------------------------------------------------------------------------------------------------- checking
class _Parsed(Exception):
    """Raised by the patched ``parse_args`` once a tool's arguments have been parsed."""

    def __init__(self, namespace):
        super().__init__()
        self.namespace = namespace


def shell_commands(text: str) -> List[List[str]]:
    """The simple commands of a shell block as argument lists (continuations joined, ``$(...)`` kept as one
    word, comments dropped, split at ``&&``, ``||``, ``;`` and ``|``)."""
    joined = re.sub(r'\\\n', ' ', text)
    commands = []
    for line in joined.splitlines():
        line = re.sub(r'\$\([^()]*\)', 'SUBST', line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=';&|')
        lexer.whitespace_split = True
        lexer.commenters = '#'
        current = []
        for token in lexer:
            if token in (';', '&&', '||', '|', '&'):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
        if current:
            commands.append(current)
    return commands


def _load_module(path: str):
    spec = importlib.util.spec_from_file_location(f'_docs_check_{abs(hash(path))}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_tool_args(script: str, args: Sequence[str]):
    """Parse ``args`` with the tool's own parser without running the tool.

    Uses the module's ``parse_args(argv)`` when it has one, else calls ``main(argv)`` with argparse stopped
    right after parsing. Raises ValueError with argparse's message when the arguments are rejected.
    """
    module = _load_module(script)
    original = argparse.ArgumentParser.parse_args
    err = io.StringIO()

    def parse_and_stop(self, argv=None, namespace=None):
        raise _Parsed(original(self, argv, namespace))

    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if hasattr(module, 'parse_args'):
                return module.parse_args(list(args))
            if not hasattr(module, 'main'):
                raise ValueError(f'{script} has neither parse_args(argv) nor main(argv) to check its arguments')
            argparse.ArgumentParser.parse_args = parse_and_stop
            saved_argv = sys.argv
            try:
                if inspect.signature(module.main).parameters:
                    module.main(list(args))
                else:  # main() reads sys.argv
                    sys.argv = [script, *args]
                    module.main()
            finally:
                argparse.ArgumentParser.parse_args = original
                sys.argv = saved_argv
            raise ValueError(f'{script}: main() returned without parsing arguments')
    except _Parsed as parsed:
        return parsed.namespace
    except SystemExit as exc:
        message = err.getvalue().strip().splitlines()
        raise ValueError(f'{script} rejects {" ".join(args)!r}: {message[-1] if message else exc}') from None


def check_config(path: str, cfg_options) -> None:
    """Load a config the way the tools do; raises on a missing file or a broken config."""
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(path)
    if isinstance(cfg_options, list) and cfg_options:  # tools/check_dataset.py keeps them as strings
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg_options = parser.parse_args(['--o', *cfg_options]).o
    if isinstance(cfg_options, dict) and cfg_options:
        cfg.merge_from_dict(cfg_options)


def check_python_command(script: str, args: Sequence[str]) -> List[str]:
    if not osp.isfile(script):
        return [f'{script} does not exist']
    try:
        ns = parse_tool_args(script, args)
    except ValueError as exc:
        return [str(exc)]
    config = getattr(ns, 'config', None)
    if isinstance(config, str) and '$' not in config and 'SUBST' not in config:
        try:
            check_config(config, getattr(ns, 'cfg_options', None))
        except Exception as exc:  # any failure to load is what the check reports
            return [f'{script}: config {config} does not load: {type(exc).__name__}: {exc}']
    return []


def check_command(argv: List[str]) -> List[str]:
    """Problems with one command of a check block (run from the working copy's root)."""
    while argv and re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*=.*', argv[0]):
        argv = argv[1:]  # environment assignments: GPUS=16 bash ...
    if not argv:
        return []
    cmd = argv[0]
    if cmd in ('python', 'python3'):
        if len(argv) < 2:
            return ['"python" without a script']
        if argv[1] == '-m':
            if len(argv) < 3 or importlib.util.find_spec(argv[2].split('.')[0]) is None:
                return [f'python -m {argv[2] if len(argv) > 2 else ""}: no such module']
            if argv[2] == 'pip':
                return [f'{argv[i + 1]} does not exist' for i, a in enumerate(argv[:-1])
                        if a == '-r' and not osp.isfile(argv[i + 1])]
            return []
        return check_python_command(argv[1], argv[2:])
    if cmd in ('bash', 'sh'):
        script = argv[1] if len(argv) > 1 else ''
        if not osp.isfile(script):
            return [f'{script or "bash"}: no such script']
        syntax = subprocess.run(['bash', '-n', script], capture_output=True, text=True)
        if syntax.returncode != 0:
            return [f'{script}: bash -n fails: {syntax.stderr.strip()}']
        if script in FORWARDING_SCRIPTS:
            tool, npos, mapping = FORWARDING_SCRIPTS[script]
            pos, rest = argv[2:2 + npos], argv[2 + npos:]
            if len(pos) < npos:
                return [f'{script} takes {npos} positional arguments, got {len(pos)}']
            return check_python_command(tool, mapping(pos) + rest)
        return []
    if cmd == 'torchrun':
        targets = [i for i, a in enumerate(argv) if a.endswith('.py')]
        if not targets:
            return ['torchrun without a .py script']
        return check_python_command(argv[targets[0]], argv[targets[0] + 1:])
    if cmd == 'pip':
        return [f'{argv[i + 1]} does not exist' for i, a in enumerate(argv[:-1])
                if a == '-r' and not osp.isfile(argv[i + 1])]
    if cmd in PLAIN_COMMANDS:
        return []
    return [f'unknown command {cmd!r} (not python, bash, torchrun, pip or one of {sorted(PLAIN_COMMANDS)})']


def check_python_block(text: str) -> List[str]:
    """Compile a python block and resolve its ``sama_mm`` imports."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return [f'python syntax error: {exc}']
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split('.')[0] == 'sama_mm':
            try:
                module = importlib.import_module(node.module)
            except ImportError as exc:
                problems.append(f'cannot import {node.module}: {exc}')
                continue
            problems += [f'{node.module} has no {a.name}' for a in node.names if not hasattr(module, a.name)]
        elif isinstance(node, ast.Import):
            problems += [f'no module {a.name}' for a in node.names if importlib.util.find_spec(a.name) is None]
    return problems


def check_block(block: Block) -> List[str]:
    """Problems of a check block; call with the working copy as the current directory."""
    if block.lang == 'python':
        found = check_python_block(block.text)
    else:
        found = []
        for argv in shell_commands(block.text):
            found += check_command(argv)
    return [f'{block.where}: {p}' for p in found]
