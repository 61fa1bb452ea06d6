"""A scikit-learn grid search that resumes: ``Pipeline(memory=recyclable.Memory(...))``.

    scale → PCA → SVC, searched over C with GridSearchCV(n_jobs=2)

The transformers' fits are kept in a pool, so running the same command again
(after a crash, a Ctrl-C, or with another grid for the classifier) loads the
fitted scaler and PCA of every fold instead of fitting them::

    python examples/sklearn_pipeline.py              # fits everything
    python examples/sklearn_pipeline.py              # loads the transformers
    python examples/sklearn_pipeline.py --components 30   # refits PCA only

It uses the digits data set that ships with scikit-learn (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import recyclable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=str(Path(".recyclable-example")), help="cache path")
    parser.add_argument("--components", type=int, default=20, help="PCA components")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    memory = recyclable.Memory(args.cache, pool="sklearn-example")
    steps = [("scale", StandardScaler()), ("pca", PCA(args.components, random_state=0))]
    pipe = Pipeline([*steps, ("svc", SVC())], memory=memory)
    search = GridSearchCV(pipe, {"svc__C": [0.5, 1.0, 2.0]}, cv=3, n_jobs=2)
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    stats = memory.pool.stats  # type: ignore[union-attr]
    print(
        f"best C {search.best_params_['svc__C']}, accuracy {search.best_score_:.3f}, "
        f"{seconds:.2f} s; the final refit here loaded {stats.loaded} and fitted "
        f"{stats.computed} transformer(s) (the folds ran in worker processes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
