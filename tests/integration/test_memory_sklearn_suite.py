"""scikit-learn's ways of using a memory, in one process: check_memory, FeatureUnion, GridSearchCV.

Following scikit-learn's ``test_check_memory`` (utils/tests/test_validation.py)
and the caching its Pipeline, FeatureUnion and GridSearchCV do through
``memory.cache(_fit_transform_one)``.  Fits are counted by the steps
themselves (``sklearn_steps``), so each test fails with recycling off.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.utils.validation import check_memory
from sklearn_steps import LOG_VAR, CountingPCA, CountingScaler, fits

import recyclable


@pytest.fixture
def fit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file every fit in this test is recorded in."""
    log = tmp_path / "fits.log"
    monkeypatch.setenv(LOG_VAR, str(log))
    return log


def test_check_memory(tmp_path: Path, fit_log: Path) -> None:
    """check_memory passes a recyclable.Memory through; a pipeline given it loads its fit.

    As scikit-learn's test_check_memory: an object with ``cache`` is used as
    is, and ``Memory(None)`` keeps ``location`` None.
    """
    memory = recyclable.Memory(tmp_path / "cache")
    assert check_memory(memory) is memory
    assert check_memory(recyclable.Memory(None)).location is None
    X, y = load_iris(return_X_y=True)
    for _ in range(2):
        make_pipeline(CountingScaler(), LogisticRegression(max_iter=500), memory=memory).fit(X, y)
    assert fits(fit_log, "scaler") == 1
    assert memory.pool is not None and memory.pool.stats.loaded == 1


def test_feature_union_of_cached_pipelines(tmp_path: Path, fit_log: Path) -> None:
    """A FeatureUnion of memory-backed pipelines loads both branches' fits on the second fit.

    Three fits are loaded: both scalers and the PCA.
    """
    X, y = load_wine(return_X_y=True)
    memory = recyclable.Memory(tmp_path / "cache")

    def model(memory: recyclable.Memory | None) -> Pipeline:
        # Pipeline caches the steps before its last: "passthrough" ends each branch.
        reduced = [("s", CountingScaler()), ("p", CountingPCA(2)), ("end", "passthrough")]
        raw = [("s", CountingScaler(with_mean=False)), ("end", "passthrough")]
        union = FeatureUnion(
            [("pca", Pipeline(reduced, memory=memory)), ("raw", Pipeline(raw, memory=memory))]
        )
        return Pipeline([("union", union), ("clf", LogisticRegression(max_iter=2000))])

    first = model(memory).fit(X, y)
    assert fits(fit_log, "scaler") == 2 and fits(fit_log, "pca") == 1
    second = model(memory).fit(X, y)
    assert fits(fit_log, "scaler") == 2 and fits(fit_log, "pca") == 1
    assert memory.pool is not None and memory.pool.stats.loaded == 3
    plain = model(None).fit(X, y)
    assert_array_equal(second.predict_proba(X), plain.predict_proba(X))
    assert_array_equal(first.predict_proba(X), plain.predict_proba(X))


def test_grid_search_over_a_cached_pipeline_fits_each_fold_once(
    tmp_path: Path, fit_log: Path
) -> None:
    """GridSearchCV over C: the scaler is fitted once per fold for all Cs, plus the refit.

    3 folds x 3 values of C would be 9 fits and the refit a 10th; with the
    memory it is 3 + 1 (the refit on all data is another input).  The search
    finds what an uncached one finds.
    """
    X, y = load_iris(return_X_y=True)
    memory = recyclable.Memory(tmp_path / "cache")
    grid = {"clf__C": [0.1, 1.0, 10.0]}

    def search(memory: recyclable.Memory | None) -> GridSearchCV:
        pipe = Pipeline(
            [("scale", CountingScaler()), ("clf", LogisticRegression(max_iter=500))],
            memory=memory,
        )
        return GridSearchCV(pipe, grid, cv=3, n_jobs=1)

    cached = search(memory).fit(X, y)
    assert fits(fit_log, "scaler") == 4
    again = search(memory).fit(X, y)
    assert fits(fit_log, "scaler") == 4, "a second search fits nothing"
    plain = search(None).fit(X, y)
    assert cached.best_params_ == again.best_params_ == plain.best_params_
    assert_array_equal(again.predict_proba(X), plain.predict_proba(X))


def test_a_pickled_cached_pipeline_keeps_its_memory(tmp_path: Path, fit_log: Path) -> None:
    """A fitted memory-backed pipeline pickles; the copy's next fit loads from the same pool."""
    X, y = load_iris(return_X_y=True)
    memory = recyclable.Memory(tmp_path / "cache")
    pipe = make_pipeline(CountingScaler(), LogisticRegression(max_iter=500), memory=memory)
    pipe.fit(X, y)
    copy = pickle.loads(pickle.dumps(pipe))
    assert_array_equal(copy.predict(X), pipe.predict(X))
    copy.fit(X, y)
    assert fits(fit_log, "scaler") == 1
    assert copy.memory.cache(_scaled)(X[:3]).shape == (3, 4)
    assert copy.memory.cache(_scaled)(X[:3]).shape == (3, 4)
    assert copy.memory.pool.stats.loaded == 2, "the pipeline's fit and the second _scaled"


def _scaled(X: object) -> object:
    """A function cached in the pipeline's memory next to its fits."""
    return CountingScaler().fit_transform(X)


def test_set_params_swaps_the_memory(tmp_path: Path, fit_log: Path) -> None:
    """set_params(memory=...) moves a pipeline to another memory: its first fit there computes."""
    X, y = load_iris(return_X_y=True)
    one, two = recyclable.Memory(tmp_path / "one"), recyclable.Memory(tmp_path / "two")
    pipe = make_pipeline(CountingScaler(), LogisticRegression(max_iter=500), memory=one)
    pipe.fit(X, y)
    pipe.set_params(memory=two).fit(X, y)
    assert fits(fit_log, "scaler") == 2
    pipe.set_params(memory=one).fit(X, y)
    assert fits(fit_log, "scaler") == 2
    assert one.pool is not None and one.pool.stats.loaded == 1
