"""Data pipelines written as named steps, and the config edits built on them.

MMEngine datasets take a pipeline as a list of transform configs. The configs of this project write each pipeline
as an ordered dict of *step name -> transform config* instead (``rvos_test_steps`` beside ``rvos_test_pipeline``),
so that a pipeline derived from another, or a leaf config, changes a step by its name rather than by its position
or by guessing it from its keys (configs/_base_/datasets/sama_pipelines.py lists the step names)::

    sama_bench_c_test_steps = edit_steps(sama_bench_g_test_steps, rounds=dict(task='description'),
                                         tokenize=dict(context_sep='\\n'), region_masks=dict(box=False))
    sama_bench_c_test_pipeline = build_pipeline(sama_bench_c_test_steps)

A name that is not a step of the pipeline is an error (a misspelt step would otherwise change nothing silently).

MMEngine's pure-Python configs copy every value a leaf imports from a base (``with read_base(): ...``): editing
``rvos_test_steps`` in a leaf does **not** reach the ``rvos_test_pipeline`` or the dataloaders its base built. A
leaf therefore either builds its own pipeline from the steps and assigns it where it is used, or edits the built
pipelines of the whole config in place with :func:`update_transforms` / :func:`without_neck`, both given the
leaf's ``globals()`` (every pipeline of the config, wherever a base put it)::

    with read_base():
        from .sama_tiny_demo import *
    without_neck.build()(globals())  # Sa2VA style: no neck, no QFormerPrompts step, no context tokens

While MMEngine reads a pure-Python config, what the config imports is a ``LazyObject`` that cannot be called;
its ``.build()`` gives the function itself. A config keeps such functions in ``_``-names and deletes them at its
end (functions cannot be dumped with the config), e.g. ``_build = build_pipeline.build()`` ... ``del _build``.
"""
from typing import Any, Dict, Mapping, MutableMapping, Optional

#: The transform that builds the context aggregator's input, and the one that writes its context tokens.
NECK_TRANSFORM = 'QFormerPrompts'
CHAT_TRANSFORM = 'ChatTokenize'


def transform_name(step: Any) -> Optional[str]:
    """The class name of a transform config's ``type`` (a class or a registry name), or None if ``step`` is not
    a transform config."""
    if not isinstance(step, Mapping) or 'type' not in step:
        return None
    kind = step['type']
    if isinstance(kind, str):
        name = kind
    elif isinstance(getattr(kind, '__name__', None), str):
        name = kind.__name__
    else:  # MMEngine's LazyObject while a pure-Python config is read: its str() is the imported name
        name = str(kind)
    return name.rsplit('.', 1)[-1]


def _check_names(steps: Mapping[str, Optional[dict]], names, what: str) -> None:
    unknown = [name for name in names if name not in steps]
    if unknown:
        raise KeyError(f'{what}: no step named {", ".join(map(repr, unknown))} in this pipeline; its steps are '
                       f'{", ".join(map(repr, steps))}')


def edit_steps(steps: Mapping[str, Optional[dict]], **changes: Optional[dict]) -> Dict[str, Optional[dict]]:
    """A copy of named steps with some of them changed by name.

    Args:
        steps: Step name -> transform config (None: a dropped step), in pipeline order.
        **changes: Step name -> change. None drops the step; a dict with a ``type`` replaces the step; a dict
            without ``type`` updates the step's arguments (``dict(step, **change)``).

    Returns:
        dict: The changed steps, same names and order (a dropped step stays as None, so that it can be named
        again).

    Raises:
        KeyError: A change names no step of ``steps``.
        ValueError: Arguments given to a dropped step (give a whole step with its ``type`` instead).
    """
    _check_names(steps, changes, 'edit_steps')
    edited = {name: (dict(step) if step is not None else None) for name, step in steps.items()}
    for name, change in changes.items():
        if change is None or 'type' in change:
            edited[name] = dict(change) if change is not None else None
        elif edited[name] is None:
            raise ValueError(f'edit_steps: step {name!r} is dropped (None); give it a whole transform config '
                             f'with its type, not only the arguments {sorted(change)}')
        else:
            edited[name].update(change)
    return edited


def insert_steps(steps: Mapping[str, Optional[dict]], *, before: Optional[str] = None, after: Optional[str] = None,
                 **new_steps: dict) -> Dict[str, Optional[dict]]:
    """A copy of named steps with new steps inserted before or after a named one.

    Args:
        steps: Step name -> transform config, in pipeline order.
        before: Insert in front of this step. Exactly one of ``before`` and ``after``.
        after: Insert behind this step.
        **new_steps: New step name -> transform config, inserted in the order given.

    Raises:
        KeyError: ``before``/``after`` names no step, or a new name is already a step.
        ValueError: Neither or both of ``before`` and ``after``.
    """
    if (before is None) == (after is None):
        raise ValueError('insert_steps: give exactly one of before= and after=')
    anchor = before if before is not None else after
    _check_names(steps, [anchor], 'insert_steps')
    taken = [name for name in new_steps if name in steps]
    if taken:
        raise KeyError(f'insert_steps: {", ".join(map(repr, taken))} already name steps of this pipeline; '
                       'change them with edit_steps')
    result: Dict[str, Optional[dict]] = {}
    for name, step in steps.items():
        if name == anchor and before is not None:
            result.update(new_steps)
        result[name] = step
        if name == anchor and after is not None:
            result.update(new_steps)
    return result


def build_pipeline(steps: Mapping[str, Optional[dict]], **changes: Optional[dict]) -> list:
    """The pipeline list MMEngine's datasets take, from named steps (after :func:`edit_steps` ``changes``).

    Dropped steps (None) are left out; every other step is copied, so that editing the list leaves ``steps``
    as it was.

    Raises:
        KeyError: A change names no step of ``steps``.
    """
    return [step for step in edit_steps(steps, **changes).values() if step is not None]


def _walk_transforms(value: Any, visit) -> None:
    """Call ``visit(container, key, step)`` for every transform config inside ``value`` (dicts and lists,
    recursively), the containers of the config's pipelines and named steps included."""
    if isinstance(value, MutableMapping):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return
    for key, item in reversed(items):  # reversed: a visit may delete a list item
        if transform_name(item) is not None:
            visit(value, key, item)
        _walk_transforms(item, visit)


def update_transforms(config: Any, transform: str, **kwargs: Any) -> int:
    """Set arguments of every transform of one type anywhere in a config, in place.

    For what no named step can reach once a base config has built its dataloaders, e.g. binding a model's
    tokenizer and chat template to every ``ChatTokenize`` of the evaluation sets (in a config: ``.build()`` first,
    see the module docstring)::

        update_transforms(globals(), 'ChatTokenize', tokenizer=backbone['tokenizer'], template=backbone_template)

    Args:
        config: A config value (a dataloader, a pipeline) or a whole config namespace (``globals()``).
        transform: The transform's class name.
        **kwargs: The arguments to set.

    Returns:
        int: How many transform configs were updated.

    Raises:
        ValueError: No transform of that type in ``config`` (a misspelt name would otherwise change nothing).
    """
    found = []

    def visit(container, key, step):
        if transform_name(step) == transform:
            step.update(kwargs)
            found.append(step)

    _walk_transforms(config, visit)
    if not found:
        raise ValueError(f'update_transforms: no {transform!r} transform in this config')
    return len(found)


def without_neck(namespace: MutableMapping[str, Any]) -> None:
    """Switch a config to Sa2VA style (no context-aggregating neck) with one call, in place.

    In every value of ``namespace`` (a leaf config's ``globals()``): the model's ``neck`` becomes None, every
    ``QFormerPrompts`` step leaves its pipeline (in named steps it becomes None, a dropped step), and every
    ``ChatTokenize`` gets ``context_tokens=False`` (no context token, no ``<mask>`` region prompt). The config
    value ``with_neck`` is set to False, for whatever reads the config later.

    Args:
        namespace: The config's variables; ``model`` must be among them.

    Raises:
        KeyError: ``namespace`` has no ``model``.
    """
    if 'model' not in namespace:
        raise KeyError('without_neck: the config has no "model" (call it after the model is defined)')
    namespace['model']['neck'] = None

    def visit(container, key, step):
        name = transform_name(step)
        if name == NECK_TRANSFORM and isinstance(container, list):
            del container[key]
        elif name == NECK_TRANSFORM and not _is_transform_slot(container):
            container[key] = None  # a named step, or a variable holding the step
        elif name == CHAT_TRANSFORM:
            step['context_tokens'] = False

    for name, value in list(namespace.items()):
        if name == 'model' or name.startswith('__'):
            continue
        if transform_name(value) is not None:  # a step kept in a variable of its own (e.g. ``qformer``)
            visit(namespace, name, value)
        else:
            _walk_transforms(value, visit)
    namespace['with_neck'] = False


def _is_transform_slot(container: Mapping) -> bool:
    """Whether ``container`` is a config that takes a transform as an argument (a nested transform), rather than
    a dict of named steps: it has a ``type`` itself."""
    return 'type' in container
