#!/usr/bin/env python
"""Exit 0 when every ``name==version`` pin of the given requirement files is installed.

Used by ``tools/ensure_env.sh`` to decide whether ``pip install`` must run. It uses the
standard library only, because it runs inside a freshly created, still empty venv.

Usage:
    python tools/check_requirements.py requirements/runtime.txt [more files ...]
"""
import re
import sys
from importlib import metadata


def _normalise(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def read_pins(path: str) -> list:
    """Return ``[(name, version), ...]`` of the ``==`` pins in a requirement file."""
    pins = []
    with open(path, encoding='utf-8') as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split('#', 1)[0].strip()
            if not line:
                continue
            match = re.fullmatch(r'([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)', line)
            if match is None:
                raise SystemExit(f'{path}:{lineno}: expected an exact pin "name==version", got {line!r}')
            pins.append((re.sub(r'\[.*\]', '', match.group(1)), match.group(2)))
    return pins


def main(paths: list) -> int:
    missing = []
    for path in paths:
        for name, version in read_pins(path):
            try:
                installed = metadata.version(name)
            except metadata.PackageNotFoundError:
                missing.append(f'{name}=={version} (not installed)')
                continue
            # Local version labels (torch's "+cu128") do not change the release we pinned.
            if installed.split('+', 1)[0] != version:
                missing.append(f'{name}=={version} (found {installed})')
    for item in missing:
        print(f'[check_requirements] unsatisfied: {item}')
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
