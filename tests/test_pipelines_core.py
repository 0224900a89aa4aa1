"""Pipelines: tracing, checks with source lines, materialised outputs, caching, tracking."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import shipyard as sy
from shipyard.errors import InvalidInputError
from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.pipelines.runner import TAG_CACHE_HIT, TAG_OUTPUT_DIGEST

calls: Counter[str] = Counter()


@step
def load(n: int) -> pd.DataFrame:
    calls["load"] += 1
    return pd.DataFrame({"x": list(range(n)), "y": [2 * i for i in range(n)]})


@step
def summarise(df: pd.DataFrame) -> dict[str, float]:
    calls["summarise"] += 1
    sy.log_metric("rows", float(len(df)))
    return {"mean_x": float(df["x"].mean()), "mean_y": float(df["y"].mean())}


@step(retries=1, retry_delay=0.0)
def report(stats: dict[str, float], scale: float) -> dict[str, float]:
    calls["report"] += 1
    sy.log_metric("scaled", stats["mean_y"] * scale)
    return {k: v * scale for k, v in stats.items()}


@pipeline(name="three-steps")
def three_steps(n: int, scale: float = 2.0) -> object:
    return report(summarise(load(n)), scale=scale)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


def test_three_steps_run_tracked_and_outputs_stored() -> None:
    run = run_pipeline(three_steps, {"n": 5})
    assert dict(calls) == {"load": 1, "summarise": 1, "report": 1}
    assert run.output("report") == {"mean_x": 4.0, "mean_y": 8.0}
    assert run.output("load").equals(load.fn(5))
    parent = sy.get_run(run.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params == {"n": "5", "scale": "2.0"}
    children = [r for r in sy.search_runs() if r.info.parent_run_id == run.run_id]
    assert {c.info.run_name for c in children} == {"load", "summarise", "report"}
    by_name = {c.info.run_name: c for c in children}
    assert by_name["report"].data.params == {"scale": "2.0"}
    assert by_name["report"].data.metrics["scaled"] == 8.0
    assert by_name["summarise"].data.metrics["rows"] == 5.0
    assert by_name["load"].data.tags[TAG_OUTPUT_DIGEST] == run.steps["load"].output_digest
    assert all(c.info.status == "FINISHED" for c in children)


def test_second_run_is_fully_cached_and_no_cache_reruns() -> None:
    first = run_pipeline(three_steps, {"n": 4})
    calls.clear()
    second = run_pipeline(three_steps, {"n": 4})
    assert not calls
    assert all(r.cache_hit for r in second.steps.values())
    assert second.output("report") == first.output("report")
    hit = sy.get_run(second.steps["report"].run_id)
    assert hit.data.tags[TAG_CACHE_HIT] == "True"
    run_pipeline(three_steps, {"n": 4}, cache=False)
    assert dict(calls) == {"load": 1, "summarise": 1, "report": 1}
    calls.clear()
    run_pipeline(three_steps, {"n": 4, "scale": 3.0})  # a new param reruns only its step
    assert dict(calls) == {"report": 1}


@step(cache=False)
def uncached(n: int) -> int:
    calls["uncached"] += 1
    return n + 1


@pipeline
def with_uncached(n: int = 1) -> object:
    return uncached(n)


def test_step_cache_false_always_runs() -> None:
    run_pipeline(with_uncached)
    run = run_pipeline(with_uncached)
    assert calls["uncached"] == 2
    assert run.output("uncached") == 2


def _write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text))


def _import_fresh(monkeypatch: pytest.MonkeyPatch, *names: str) -> object:
    for name in names:
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.invalidate_caches()
    return importlib.import_module(names[-1])


def test_changing_a_helper_invalidates_the_cache(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers, flow = tmp_path / "sy_helpers_mod.py", tmp_path / "sy_flow_mod.py"
    _write(helpers, """
        def clean(x: int) -> int:
            return x + 1
    """)
    _write(flow, """
        import sy_helpers_mod
        from shipyard.pipelines import pipeline, step

        @step
        def compute(n: int) -> int:
            return sy_helpers_mod.clean(n) * 10

        @pipeline
        def flow(n: int = 1) -> object:
            return compute(n)
    """)
    module = _import_fresh(monkeypatch, "sy_helpers_mod", "sy_flow_mod")
    first = run_pipeline(module.flow)  # type: ignore[attr-defined]
    again = run_pipeline(module.flow)  # type: ignore[attr-defined]
    assert first.output("compute") == 20
    assert again.steps["compute"].cache_hit
    _write(helpers, """
        def clean(x: int) -> int:
            return x + 2  # changed
    """)
    module = _import_fresh(monkeypatch, "sy_helpers_mod", "sy_flow_mod")
    changed = run_pipeline(module.flow)  # type: ignore[attr-defined]
    assert not changed.steps["compute"].cache_hit
    assert changed.output("compute") == 30


def test_retries_then_success() -> None:
    attempts = Counter[str]()

    @step(retries=2, retry_delay=0.0, cache=False)
    def flaky() -> int:
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise RuntimeError("transient")
        return 7

    @pipeline
    def flaky_flow() -> object:
        return flaky()

    run = run_pipeline(flaky_flow)
    assert run.output("flaky") == 7
    assert run.steps["flaky"].attempts == 3


def test_failure_after_retries_fails_the_runs() -> None:
    @step(retries=1, retry_delay=0.0)
    def broken() -> int:
        raise RuntimeError("always")

    @pipeline(name="broken-flow")
    def broken_flow() -> object:
        return broken()

    with pytest.raises(RuntimeError, match="always"):
        run_pipeline(broken_flow)
    runs = sy.search_runs(filter_string="attributes.run_name = 'broken-flow'")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert sy.active_run() is None


def test_independent_steps_run_in_parallel() -> None:
    import threading

    barrier = threading.Barrier(2, timeout=10)

    @step(cache=False)
    def left() -> int:
        barrier.wait()  # only returns when both steps run at the same time
        return 1

    @step(cache=False)
    def right() -> int:
        barrier.wait()
        return 2

    @step(cache=False)
    def join(a: int, b: int) -> int:
        return a + b

    @pipeline
    def diamond() -> object:
        return join(left(), right())

    assert run_pipeline(diamond).output("join") == 3


def test_steps_are_plain_functions_outside_pipelines() -> None:
    assert list(load(3)["y"]) == [0, 2, 4]  # called outside a pipeline: it just runs


def test_missing_and_unknown_pipeline_params() -> None:
    with pytest.raises(InvalidInputError, match=r"needs parameter 'n'.*") as info:
        run_pipeline(three_steps, {})
    assert f"{__file__}:" in str(info.value)
    with pytest.raises(InvalidInputError, match="has no parameter 'm'"):
        run_pipeline(three_steps, {"n": 1, "m": 2})


@step
def count_rows(df: pd.DataFrame) -> int:
    calls["count_rows"] += 1
    return len(df)


@pipeline
def frame_param(df: pd.DataFrame) -> object:
    return count_rows(df)


def test_a_dataframe_param_is_keyed_by_content_not_repr() -> None:
    big = pd.DataFrame({"x": range(1000)})
    changed = big.copy()
    changed.loc[500, "x"] = -1  # hidden in the middle of the truncated repr
    run_pipeline(frame_param, {"df": big})
    assert run_pipeline(frame_param, {"df": big.copy()}).steps["count_rows"].cache_hit
    assert not run_pipeline(frame_param, {"df": changed}).steps["count_rows"].cache_hit
    assert calls["count_rows"] == 2


class Config:
    """A param value with no materialiser: its step cannot be cached."""


@step
def configured(config: Config) -> int:
    calls["configured"] += 1
    return 1


@pipeline
def with_config() -> object:
    return configured(Config())


def test_a_param_without_stable_digest_is_never_cached() -> None:
    run_pipeline(with_config)
    assert not run_pipeline(with_config).steps["configured"].cache_hit
    assert calls["configured"] == 2


def test_what_a_step_prints_is_logged_to_its_run(capsys: pytest.CaptureFixture[str]) -> None:
    @step(cache=False)
    def chatty(n: int) -> int:
        print(f"chatty says {n}")
        return n

    @step(cache=False)
    def quiet(n: int) -> int:
        return n

    @pipeline
    def talk() -> object:
        return [chatty(1), quiet(2)]

    print("outside")
    run = run_pipeline(talk)
    client = sy.Client()
    assert client.read_artifact_bytes(run.steps["chatty"].run_id, "step.log") == \
        b"chatty says 1\n"
    assert [a.path for a in client.list_artifacts(run.steps["quiet"].run_id)] == []
    assert capsys.readouterr().out == "outside\nchatty says 1\n"  # still printed as usual
