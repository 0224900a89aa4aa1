"""Run pipeline steps on a Dask ``distributed`` cluster (``dask://host:8786``).

Each step task is shipped with cloudpickle together with what it needs to write where the
driver writes: the tracking and artifacts URIs in force on the driver (absolute), the pipeline
run id and the experiment. The worker's own ``SHIPYARD_*`` environment is not used: before the
step runs, the task sets ``SHIPYARD_TRACKING_URI`` and ``SHIPYARD_ARTIFACTS_URI`` in the worker
process to the driver's values (so a worker serves the stores of one pipeline at a time).

A step function is pickled the way cloudpickle does it: by reference when its module is
importable on the worker under the same name, else by value (a function defined in a test
module or a script works if its module is registered with
``cloudpickle.register_pickle_by_value``).

When a worker dies mid-step Dask reschedules the task on another worker (``allowed_failures``
in the scheduler's config, 3 by default). The re-executed step marks the step run left behind
by the lost attempt (still RUNNING) as FAILED with the tag ``shipyard.step.lost_worker`` and
records a new step run; the pipeline keeps the new one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.pipelines.executor import Executor, LocalExecutor

DASK_SCHEME = "dask://"
CONNECT_TIMEOUT_S = 10.0


def _run_on_worker(task: Callable[[], Any], tracking_uri: str, artifacts_uri: str,
                   parent_run_id: str | None, experiment: str | None) -> Any:
    """Run ``task`` on a Dask worker with the driver's stores and the pipeline run active."""
    os.environ["SHIPYARD_TRACKING_URI"] = tracking_uri
    os.environ["SHIPYARD_ARTIFACTS_URI"] = artifacts_uri
    from shipyard.pipelines.step_logs import tee_installed
    from shipyard.sdk import fluent

    client = fluent.client()
    stack: tuple[fluent.ActiveRun, ...] = ()
    if parent_run_id is not None:
        # The driver owns (and ends) the pipeline run; here it only becomes the parent.
        stack = (fluent.ActiveRun(client.get_run(parent_run_id), client),)
    run_token = fluent._run_stack.set(stack)
    experiment_token = fluent._experiment.set(experiment)
    try:
        with tee_installed():  # what the step prints goes to its run's step.log
            return task()
    finally:
        client.flush()
        fluent._run_stack.reset(run_token)
        fluent._experiment.reset(experiment_token)


class DaskExecutor:
    """Steps as tasks on a ``distributed`` cluster.

    ``address`` is ``dask://host:port``, a ``tcp://`` scheduler address, or a
    ``distributed.Client`` (which the executor then does not close).
    """

    def __init__(self, address: Any, *, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        try:
            import distributed
        except ImportError:
            raise InvalidStateError(
                "the Dask executor needs the `dask` extra: pip install 'shipyard-mlops[dask]'",
                field="executor") from None
        client_class: Any = distributed.Client  # untyped
        self._own = not isinstance(address, client_class)
        self._client: Any
        if self._own:
            text = str(address)
            if text.startswith(DASK_SCHEME):
                text = "tcp://" + text[len(DASK_SCHEME):]
            try:
                self._client = client_class(text, timeout=connect_timeout,
                                            set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise InvalidStateError(
                    f"cannot reach the Dask scheduler at {address!s} within "
                    f"{connect_timeout:g}s ({exc}); start one with `dask scheduler` or "
                    "check the host and port", field="executor") from None
        else:
            self._client = address
        self._futures: list[Any] = []
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` in use."""
        return self._client

    def submit(self, task: Callable[[], Any]) -> Future[Any]:
        from shipyard import settings
        from shipyard.sdk import fluent

        active = fluent.active_run()
        remote: Any = self._client.submit(
            _run_on_worker, task, settings.tracking_uri(), settings.artifacts_uri(),
            active.run_id if active is not None else None, fluent._experiment.get(),
            pure=False)
        local: Future[Any] = Future()
        local.set_running_or_notify_cancel()

        def _done(finished: Any) -> None:
            try:
                local.set_result(finished.result())
            except BaseException as exc:  # the step's exception, or CancelledError
                local.set_exception(exc)

        remote.add_done_callback(_done)
        with self._lock:
            self._futures.append(remote)
        return local

    def gather(self, futures: Iterable[Future[Any]]) -> set[Future[Any]]:
        done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        return done

    def cancel(self) -> None:
        with self._lock:
            pending, self._futures = self._futures, []
        pending = [f for f in pending if not f.done()]
        if pending:
            self._client.cancel(pending)
        if self._own:
            self._client.close()


def executor_from_url(url: str) -> Executor:
    """``local`` (or empty) -> a LocalExecutor; ``dask://host:port`` -> a DaskExecutor."""
    if url in ("", "local"):
        return LocalExecutor()
    if url.startswith(DASK_SCHEME):
        return DaskExecutor(url)
    raise InvalidInputError(f"unknown executor {url!r}: use 'local' or 'dask://host:port'",
                            field="executor")
