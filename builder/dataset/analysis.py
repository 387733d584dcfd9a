"""The dataset's model fits (Dawid-Skene, baselines, leakage audit): in the build's process or
in a worker."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from builder.core.errors import BuilderError

if TYPE_CHECKING:
    from builder.dataset.leakage import Audit
    from builder.labels.aggregate import Answers, Fit

Rows = dict[str, list[dict[str, Any]]]  # split -> rows
# The configs with a baseline; the leakage audit is of claims.
BASELINE_CONFIGS = ("claims", "stance")


def warm_up_fit() -> None:
    """Import what Dawid-Skene needs (crowd-kit: ~1.5 s), ahead of the answers."""
    import crowdkit.aggregation  # noqa: F401

    import builder.labels.aggregate  # noqa: F401


def fit_labels(answers: Answers) -> Fit:
    from builder.labels.aggregate import dawid_skene

    return dawid_skene(answers)


def warm_up() -> None:
    """Import what `analyse` needs (sklearn, scipy, datasketch: ~2 s), ahead of the rows."""
    import datasketch  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import builder.dataset.baseline  # noqa: F401
    import builder.dataset.leakage  # noqa: F401


def analyse(rows: dict[str, Rows]) -> tuple[dict[str, dict[str, Any]], Audit]:
    """The baselines of claims and stance, and the leakage audit of claims (config -> rows)."""
    from builder.dataset.baseline import baseline
    from builder.dataset.leakage import audit

    baselines = {
        config: baseline(config, rows[config]) for config in BASELINE_CONFIGS if config in rows
    }
    return baselines, audit(rows["claims"])


def _failed(exc: Exception) -> BuilderError:
    return BuilderError(
        "the dataset's model fits (Dawid-Skene, baselines, leakage audit) failed in their "
        f"worker process ({type(exc).__name__}: {exc}). Nothing was written.",
        fix="run `make dataset` again; if it fails again, rerun with --debug and report the "
        "traceback",
    )


class Analyst:
    """Runs the fits here, or in one spawned worker process started before the build's own
    work, so that the worker's imports and fits overlap it (a second core): first Dawid-Skene
    on the claims' answers while the build reads raw/, then `analyse` of the rows while it
    writes the files."""

    def __init__(self, worker: bool) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._future: Future[Any] | None = None
        self._result: tuple[dict[str, dict[str, Any]], Audit] | None = None
        self._fit_future: Future[Fit] | None = None
        self._fit: Fit | None = None
        if worker:
            # spawn, not fork: a forked copy of a process with threads (pyarrow's) may deadlock.
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            self._pool.submit(warm_up_fit)

    def begin(self, answers: Answers | None) -> None:
        """Start fitting Dawid-Skene to `answers` (None: no fit is wanted); `fitted` gives it."""
        if self._pool is None:
            self._fit = fit_labels(answers) if answers is not None else None
            return
        try:
            if answers is not None:
                self._fit_future = self._pool.submit(fit_labels, answers)
            self._pool.submit(warm_up)
        except Exception as exc:  # the worker died already (BrokenProcessPool)
            raise _failed(exc) from exc

    def fitted(self) -> Fit | None:
        if self._fit_future is None:
            return self._fit
        try:
            return self._fit_future.result()
        except Exception as exc:
            raise _failed(exc) from exc

    def submit(self, rows: dict[str, Rows]) -> None:
        if self._pool is None:
            self._result = analyse(rows)
            return
        try:
            self._future = self._pool.submit(analyse, rows)
        except Exception as exc:  # the worker died already (BrokenProcessPool)
            raise _failed(exc) from exc

    def result(self) -> tuple[dict[str, dict[str, Any]], Audit]:
        if self._future is None:
            assert self._result is not None, "submit() first"
            return self._result
        try:
            return self._future.result()
        except Exception as exc:
            # A worker that was killed (out of memory, a signal) breaks the pool; one that
            # raised sends its exception here, the worker's traceback as its cause.
            raise _failed(exc) from exc

    def close(self) -> None:
        if self._pool is not None:
            # A build that stopped early need not wait for the rows it never sent.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Analyst:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
