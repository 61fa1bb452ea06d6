"""scikit-learn steps that record their fits, and a child process that fits a pipeline.

``CountingScaler`` and ``CountingPCA`` append one line per ``fit`` to the file
named by ``RECYCLABLE_TEST_FIT_LOG`` (in whatever process fits them: the test,
a child, a loky worker), so a test can count fits across processes.

Run as a script, it fits a memory-backed pipeline on iris in a fresh process
and prints JSON: the pool's statistics, the predictions and the fit count::

    python tests/sklearn_steps.py fit CACHE POOL [--components N] [--step NAME]
    python tests/sklearn_steps.py grid CACHE POOL
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

LOG_VAR = "RECYCLABLE_TEST_FIT_LOG"


def _record(name: str, params: dict[str, Any]) -> None:
    log = os.environ.get(LOG_VAR)
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps({"step": name, "pid": os.getpid(), **params}) + "\n")


def fits(log: Path, step: str | None = None) -> int:
    """How many fits the log records (of ``step`` only, when given)."""
    if not log.exists():
        return 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line]
    return sum(1 for line in lines if step is None or line["step"] == step)


class CountingScaler(StandardScaler):
    """A StandardScaler that records each fit."""

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> CountingScaler:
        _record("scaler", {"with_mean": self.with_mean})
        super().fit(X, y, sample_weight)
        return self


class CountingPCA(PCA):
    """A PCA that records each fit (PCA's fit_transform does not call fit: both are counted)."""

    def fit(self, X: Any, y: Any = None) -> CountingPCA:
        _record("pca", {"n_components": self.n_components})
        super().fit(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        _record("pca", {"n_components": self.n_components})
        return super().fit_transform(X, y)


def pipeline(memory: Any, *, components: int = 2, step: str = "pca") -> Any:
    """Scaler → PCA → logistic regression, cached in ``memory``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("scale", CountingScaler()),
            (step, CountingPCA(n_components=components, random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ],
        memory=memory,
    )


def grid_search(memory: Any) -> Any:
    """GridSearchCV(n_jobs=2) over the classifier's C, the transformers fixed."""
    from sklearn.model_selection import GridSearchCV

    return GridSearchCV(pipeline(memory), {"clf__C": [0.1, 1.0]}, cv=3, n_jobs=2)


def main(argv: list[str]) -> int:
    from sklearn.datasets import load_iris

    import recyclable

    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["fit", "grid"])
    parser.add_argument("cache")
    parser.add_argument("pool")
    parser.add_argument("--components", type=int, default=2)
    parser.add_argument("--step", default="pca")
    args = parser.parse_args(argv)
    X, y = load_iris(return_X_y=True)
    memory = recyclable.Memory(args.cache, pool=args.pool)
    if args.mode == "fit":
        model = pipeline(memory, components=args.components, step=args.step).fit(X, y)
        predictions = model.predict_proba(X).tolist()
    else:
        model = grid_search(memory).fit(X, y)
        predictions = model.predict_proba(X).tolist()
    stats = memory.pool.stats  # type: ignore[union-attr]
    print(
        json.dumps(
            {
                "loaded": stats.loaded,
                "computed": stats.computed,
                "predictions": predictions,
                "best_params": getattr(model, "best_params_", None),
            }
        )
    )
    return 0


if __name__ == "__main__":
    # Fit the module's classes, not __main__'s: keys and worker processes
    # then see the same `sklearn_steps.CountingScaler` as the test does.
    import sklearn_steps

    sys.exit(sklearn_steps.main(sys.argv[1:]))


def column_means(X: Any) -> Any:
    """Column means of ``X``, recording the call (a plain function for Memory.cache)."""
    _record("means", {})
    return X.mean(axis=0)
