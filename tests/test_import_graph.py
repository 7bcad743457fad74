"""The module-level imports between ``sama_mm`` modules form no cycle.

The graph is read from the source with :mod:`ast` (nothing is imported), so the test is fast and also covers
modules whose import needs optional packages. An edge ``a -> b`` means that executing module ``a`` executes
module ``b`` first:

* ``import x.y.z`` and ``from x.y import z`` (``z`` a submodule) point at the submodule, and
  ``from x.y import name`` (``name`` not a submodule) at ``x.y``, whose ``__init__`` must have run to provide
  the name;
* each of them also points at the packages above its target (``x``, ``x.y``), whose ``__init__`` runs first,
  except those that are packages of the importing module itself: Python imports a module's own packages before
  the module, so reaching them again re-enters nothing (a name taken *from* one of them, e.g.
  ``from .. import name`` in a submodule, does count: that is the half-initialised-package case);
* relative imports are resolved against the importing module's package (an ``__init__.py`` is its own package);
* imports inside functions and methods, and under ``if TYPE_CHECKING:``, do not count (they run later or never);
  those in class bodies, ``try`` / ``if`` / ``with`` blocks at module level do.
"""
import ast
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Set

from tests.conftest import REPO_ROOT

PACKAGE = 'sama_mm'


def discover_modules(root: str = REPO_ROOT, package: str = PACKAGE) -> Dict[str, str]:
    """Map every module name of ``package`` to its source file (packages to their ``__init__.py``)."""
    modules = {}
    base = osp.join(root, package)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if osp.isfile(osp.join(dirpath, d, '__init__.py')))
        rel = osp.relpath(dirpath, root).replace(os.sep, '.')
        for name in sorted(filenames):
            if not name.endswith('.py'):
                continue
            stem = name[:-3]
            modules[rel if stem == '__init__' else f'{rel}.{stem}'] = osp.join(dirpath, name)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING') or \
        (isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING')


def _module_level_imports(tree: ast.Module) -> Iterator[ast.stmt]:
    """Import statements executed when the module runs (not those in functions or ``TYPE_CHECKING`` blocks)."""
    stack: List[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(reversed(node.orelse))
        else:
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _resolve_base(module: str, is_package: bool, node: ast.ImportFrom) -> Optional[str]:
    """Absolute module named by ``from <base> import ...`` (``None`` for a relative import leaving the tree)."""
    if node.level == 0:
        return node.module
    parts = module.split('.') if is_package else module.split('.')[:-1]
    if node.level - 1 > len(parts) - 1:
        return None
    parts = parts[:len(parts) - (node.level - 1)]
    return '.'.join(parts + ([node.module] if node.module else []))


def import_graph(modules: Dict[str, str]) -> Dict[str, Set[str]]:
    """Edges ``module -> {modules it executes at import time}`` restricted to ``modules``."""
    graph: Dict[str, Set[str]] = {}
    for module, path in modules.items():
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        is_package = osp.basename(path) == '__init__.py'
        ancestors = _packages_above(module)
        targets: Set[str] = set()
        for node in _module_level_imports(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = _resolve_base(module, is_package, node)
                if base is None:
                    continue
                names = [f'{base}.{a.name}' if f'{base}.{a.name}' in modules else base for a in node.names]
            for name in names:
                targets.add(name)
                targets.update(p for p in _packages_above(name) if p not in ancestors)
        graph[module] = {t for t in targets if t in modules and t != module}
    return graph


def _packages_above(module: str) -> Set[str]:
    """``'a.b.c'`` -> ``{'a', 'a.b'}``."""
    parts = module.split('.')
    return {'.'.join(parts[:i]) for i in range(1, len(parts))}


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    components: List[List[str]] = []
    counter = [0]

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_cycle_in(graph, set(c)) for c in components]


def _cycle_in(graph: Dict[str, Set[str]], component: Set[str]) -> List[str]:
    """A concrete cycle through the first module of a strongly connected component (shortest, by BFS)."""
    start = min(component)
    previous = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f'no cycle through {start} in {sorted(component)}')


def test_graph_reader_handles_relative_and_function_imports(tmp_path):
    pkg = tmp_path / 'pkg'
    (pkg / 'sub').mkdir(parents=True)
    (pkg / '__init__.py').write_text('from . import a\n')
    (pkg / 'a.py').write_text('from .sub import b\nfrom .sub.b import NAME\n')
    (pkg / 'sub' / '__init__.py').write_text('from .b import NAME\n')
    (pkg / 'sub' / 'b.py').write_text(
        'from typing import TYPE_CHECKING\nNAME = 1\nif TYPE_CHECKING:\n    from ..a import X\n'
        'def f():\n    from pkg import a\n')
    (pkg / 'sub' / 'c.py').write_text('from .. import a\nclass C:\n    from ..sub import b\n')
    (pkg / 'sub' / 'd.py').write_text('import pkg.sub.b\nfrom pkg.sub import NAME\n')
    modules = discover_modules(str(tmp_path), 'pkg')
    graph = import_graph(modules)
    assert graph == {
        'pkg': {'pkg.a'},
        'pkg.a': {'pkg.sub', 'pkg.sub.b'},  # pkg.sub's __init__ runs before pkg.sub.b
        'pkg.sub': {'pkg.sub.b'},
        'pkg.sub.b': set(),
        'pkg.sub.c': {'pkg.a', 'pkg.sub.b'},
        'pkg.sub.d': {'pkg.sub', 'pkg.sub.b'},  # a name taken from its own package counts
    }
    assert find_cycles(graph) == []
    graph['pkg.sub.b'].add('pkg.sub.c')  # c -> a -> b -> c
    assert find_cycles(graph) == [['pkg.a', 'pkg.sub.b', 'pkg.sub.c', 'pkg.a']]


def test_no_import_cycle_in_sama_mm():
    modules = discover_modules()
    assert 'sama_mm.models.sama' in modules and 'sama_mm' in modules
    cycles = find_cycles(import_graph(modules))
    assert not cycles, 'import cycles between sama_mm modules:\n' + '\n'.join(' -> '.join(c) for c in cycles)
