"""``sy.autolog()``: record params, training metrics and the model of every fit.

    import shipyard as sy
    sy.autolog(registered_model_name="er-matcher")
    clf.fit(X, y)                       # a run with params, training metrics and model/
    sy.autolog(disable=True)            # every patched method back as it was

What each library logs is described in :mod:`~shipyard.sdk.autolog.estimators` and
:mod:`~shipyard.sdk.autolog.boosters`; how patches are applied and undone, and how nested
fits log once, in :mod:`~shipyard.sdk.autolog.patching`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shipyard.sdk.autolog.patching import AutologConfig, lock, set_config, unpatch_all

__all__ = ["autolog"]

log = logging.getLogger("shipyard.autolog")


def _patch_sklearn() -> int:
    from shipyard.sdk.autolog.estimators import patch_classes, sklearn_classes

    return patch_classes(sklearn_classes())


def _patch_xgboost() -> int:
    from shipyard.sdk.autolog.boosters import patch_xgboost

    return patch_xgboost()


def _patch_lightgbm() -> int:
    from shipyard.sdk.autolog.boosters import patch_lightgbm

    return patch_lightgbm()


_LIBRARIES: dict[str, Callable[[], int]] = {
    "sklearn": _patch_sklearn, "xgboost": _patch_xgboost, "lightgbm": _patch_lightgbm}


def autolog(*, log_models: bool = True, registered_model_name: str | None = None,
            disable: bool = False) -> None:
    """Log every outermost fit of scikit-learn, XGBoost and LightGBM models (the libraries
    that are installed) to the active run, or to a run started for the fit and ended with it.

    ``log_models=False`` skips the model package; ``registered_model_name`` registers each
    logged model as a new version of that model. ``disable=True`` turns autologging off and
    restores every patched method. Calling it again changes the settings; patches stay once.
    A failure while logging is a warning on the ``shipyard.autolog`` logger: it never breaks
    the fit, and the fit's own exceptions propagate unchanged.
    """
    with lock:
        if disable:
            set_config(None)
            unpatch_all()
            return
        if registered_model_name is not None:
            from shipyard.entities.registry import check_model_name

            check_model_name(registered_model_name, "registered_model_name")
        set_config(AutologConfig(log_models=log_models,
                                 registered_model_name=registered_model_name))
        for library, apply in _LIBRARIES.items():
            try:
                apply()
            except ImportError:
                log.debug("autolog: %s is not installed", library)
