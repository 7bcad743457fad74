"""Register every sama_mm module into the registries, the MMDetection way."""
import datetime
import warnings

from mmengine import DefaultScope

from ..registry import SCOPE


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every sama_mm package that registers classes, and optionally set the default scope.

    Configs that name classes by string resolve them through the registries' ``locations`` anyway; calling
    this is only needed by code that looks classes up before any registry has been used.

    Args:
        init_default_scope (bool): Whether to make ``sama_mm`` the current default scope, so that
            ``type='Name'`` lookups start from the sama_mm registries. If another scope is current, a new
            uniquely named ``sama_mm`` scope instance is created and a warning says so. Defaults to True.
    """
    import sama_mm.apis  # noqa: F401
    import sama_mm.datasets  # noqa: F401
    import sama_mm.datasets.transforms  # noqa: F401
    import sama_mm.engine  # noqa: F401
    import sama_mm.evaluation  # noqa: F401
    import sama_mm.models  # noqa: F401
    import sama_mm.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    never_set = current is None or not DefaultScope.check_instance_created(SCOPE)
    if never_set:
        DefaultScope.get_instance(SCOPE, scope_name=SCOPE)
    elif current.scope_name != SCOPE:
        warnings.warn(f'The current default scope "{current.scope_name}" is not "{SCOPE}"; '
                      f'register_all_modules creates a new default scope for "{SCOPE}".')
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S%f')
        DefaultScope.get_instance(f'{SCOPE}-{stamp}', scope_name=SCOPE)
