"""Run one step call in its own process so that a ``timeout`` can stop it.

Threads cannot be killed, processes can: a step with ``timeout=`` runs in a fresh ``spawn``
process (no inherited locks or open database handles), which is terminated when the time is
up. Inputs and the return value cross the process boundary with pickle -- only between this
process and the child it started, never from storage. The child resolves the step by module
and name, so such a step must be defined at module level.
"""

from __future__ import annotations

import importlib
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.pipelines.decorators import Step, source_line


class StepTimeoutError(TimeoutError):
    """A step ran longer than its ``timeout``; its process was terminated."""


def _resolve(module: str, name: str) -> Step:
    found = getattr(importlib.import_module(module), name, None)
    if not isinstance(found, Step):
        raise InvalidInputError(f"{module}.{name} is not a step", field=name)
    return found


def _child(conn: Connection, module: str, name: str, args: dict[str, Any],
           run_id: str) -> None:
    from shipyard.sdk import fluent

    client = fluent.client()
    # Why set the stack directly: the parent owns (and ends) the step run; the child only
    # makes it the active run so `sy.log_metric` inside the step writes to it.
    active = fluent.ActiveRun(client.get_run(run_id), client)
    fluent._run_stack.set((active,))
    try:
        value = _resolve(module, name).fn(**args)
        client.flush()
        conn.send(("ok", value))
    except Exception as exc:  # every failure goes back to the parent
        client.flush()
        try:
            conn.send(("error", exc))
        except Exception:  # an exception that does not pickle: send its text
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def call_in_process(step: Step, args: dict[str, Any], timeout: float, run_id: str) -> Any:
    """``step.fn(**args)`` in a child process; :class:`StepTimeoutError` after ``timeout``."""
    module, name = step.fn.__module__, step.fn.__name__
    if getattr(importlib.import_module(module), name, None) is not step:
        raise InvalidInputError(
            f"{source_line(step.fn)}: step {step.name!r} has a timeout, so it runs in its own "
            "process, which finds it by module and name: define it at module level",
            field=step.name)
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child_end, module, name, args, run_id),
                              name=f"shipyard-step-{step.name}", daemon=True)
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(timeout):
            raise StepTimeoutError(f"step {step.name!r} ran longer than its timeout of "
                                   f"{timeout:g}s and was stopped")
        status, payload = parent_end.recv()
    except EOFError:
        raise RuntimeError(f"the process of step {step.name!r} died (exit code "
                           f"{process.exitcode})") from None
    finally:
        if process.is_alive():
            process.terminate()
        process.join(5)
        parent_end.close()
    if status == "error":
        raise payload
    return payload
