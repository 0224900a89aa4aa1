"""Which installed distributions a model needs at run time, at the versions it was saved with.

Two sources, both mapped onto the recorded environment's versions:

* the flavor's own list (``RUNTIME_PACKAGES``; ``a|b`` names alternatives providing the same
  import, e.g. ``xgboost-cpu|xgboost``: the first one installed is taken);
* the top-level modules the saved model's classes come from (a user's ``torch.nn.Module``, a
  custom transformer inside a scikit-learn pipeline), mapped to the distributions that install
  them. A module no distribution installs (a script folder on ``sys.path``) has no entry: its
  code must reach the serving machine some other way, and :func:`missing_modules` says so.

Only these are pinned, not the whole training environment; pip resolves what they depend on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from shipyard.services.run_context import normalize_package_name

SCORING_PACKAGES = ("numpy", "pyarrow", "blake3", "pandas")
"""What ``python -m shipyard.models.score`` itself needs (pandas only where it was installed:
models fitted on DataFrames need one to predict)."""


@functools.cache
def _module_distributions() -> dict[str, tuple[str, ...]]:
    import importlib.metadata

    found = importlib.metadata.packages_distributions()
    return {module: tuple(normalize_package_name(d) for d in dists)
            for module, dists in found.items()}


def distributions_of(modules: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each top-level module's installing distributions (an empty tuple for none)."""
    known = _module_distributions()
    return {module: known.get(module, ()) for module in modules}


def runtime_packages(names: Iterable[str], modules: Iterable[str],
                     installed: Mapping[str, str]) -> dict[str, str]:
    """``{distribution: version}`` for the flavor's ``names`` and the model's ``modules``."""
    wanted: list[str] = []
    for name in names:
        options = [normalize_package_name(n) for n in name.split("|")]
        wanted.append(next((n for n in options if n in installed), options[0]))
    for dists in distributions_of(modules).values():
        wanted.extend(dists)
    return {name: installed[name] for name in sorted(set(wanted)) if name in installed}


def missing_modules(modules: Iterable[str]) -> list[str]:
    """Those of ``modules`` that no installed distribution provides."""
    return sorted(m for m, dists in distributions_of(modules).items() if not dists)
