"""The pipeline benchmarks/memory.py fits, in a module of its own so every process keys it alike.

Each transformer appends a line per fit to ``$BENCH_FIT_LOG``, so the
benchmark can check that a second fit loaded instead of fitting.
"""

from __future__ import annotations

import os
from typing import Any

from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def _record(step: str) -> None:
    log = os.environ.get("BENCH_FIT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(step + "\n")


class Scaler(StandardScaler):
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Scaler:
        _record("scaler")
        super().fit(X, y, sample_weight)
        return self


class Reduce(PCA):
    def fit_transform(self, X: Any, y: Any = None) -> Any:
        _record("pca")
        return super().fit_transform(X, y)


class Kernel(Nystroem):
    def fit(self, X: Any, y: Any = None) -> Kernel:
        _record("nystroem")
        super().fit(X, y)
        return self


def pipeline(memory: Any, n_features: int, n_kernel: int) -> Pipeline:
    """Scale → PCA → Nystroem kernel map → nearest centroid; the three transformers cached."""
    return Pipeline(
        [
            ("scale", Scaler()),
            ("pca", Reduce(n_components=n_features // 4, svd_solver="full")),
            ("kernel", Kernel(n_components=n_kernel, random_state=0)),
            ("clf", NearestCentroid()),
        ],
        memory=memory,
    )
