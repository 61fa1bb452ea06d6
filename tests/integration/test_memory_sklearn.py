"""scikit-learn's own expectations of ``Pipeline(memory=...)``, met by ``recyclable.Memory``.

The in-process test follows scikit-learn's ``test_pipeline_memory``; the
others run the pipeline in fresh processes (and GridSearchCV's loky workers)
and count fits through a log every fitting process appends to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn_steps import LOG_VAR, CountingPCA, CountingScaler, fits, grid_search, pipeline

import recyclable

REPO = Path(__file__).resolve().parents[2]
STEPS = REPO / "tests" / "sklearn_steps.py"


@pytest.fixture
def fit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file every fit in this test (in any process) is recorded in."""
    log = tmp_path / "fits.log"
    monkeypatch.setenv(LOG_VAR, str(log))
    return log


def _child(mode: str, cache: Path, pool: str, *extra: str) -> dict[str, Any]:
    env = dict(os.environ)  # conftest removed the caller's RECYCLABLE_*; the guard's switch stays
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    done = subprocess.run(
        [sys.executable, str(STEPS), mode, str(cache), pool, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_cached_pipeline_predicts_like_uncached_and_fits_once(
    tmp_path: Path, fit_log: Path
) -> None:
    """As scikit-learn's test_pipeline_memory: equal predictions, input left unfitted, one fit.

    A second fit loads the transformer, and a pipeline whose step has another
    name but an equal transformer loads the same fit.
    """
    X, y = load_iris(return_X_y=True)
    memory = recyclable.Memory(tmp_path / "cache")
    transf = CountingScaler()
    plain = Pipeline([("transf", clone(transf)), ("clf", LogisticRegression(random_state=0))])
    cached = Pipeline(
        [("transf", transf), ("clf", LogisticRegression(random_state=0))], memory=memory
    )

    cached.fit(X, y)
    plain.fit(X, y)
    assert fits(fit_log, "scaler") == 2  # one each
    assert not hasattr(transf, "mean_"), "the transformer passed in must stay unfitted"
    first = cached.named_steps["transf"]
    for fitted in (cached, cached.fit(X, y)):
        assert_array_equal(plain.predict(X), fitted.predict(X))
        assert_array_equal(plain.predict_proba(X), fitted.predict_proba(X))
        assert_array_equal(plain.predict_log_proba(X), fitted.predict_log_proba(X))
        assert plain.score(X, y) == fitted.score(X, y)
        assert_array_equal(plain.named_steps["transf"].mean_, fitted.named_steps["transf"].mean_)
    assert fits(fit_log, "scaler") == 2, "the second fit must load the transformer"
    assert memory.pool is not None and memory.pool.stats.loaded == 1
    loaded = cached.named_steps["transf"]
    assert loaded is not first and type(loaded) is CountingScaler
    assert loaded.mean_.flags.writeable, "a loaded fit must behave like a computed one"
    assert joblib.hash(loaded) == joblib.hash(first), "a loaded fit is a faithful copy"

    renamed = Pipeline(
        [("transf_2", CountingScaler()), ("clf", LogisticRegression(random_state=0))],
        memory=memory,
    ).fit(X, y)
    assert fits(fit_log, "scaler") == 2, "an equal transformer under another name reuses the fit"
    assert memory.pool.stats.loaded == 2
    assert_array_equal(plain.predict_proba(X), renamed.predict_proba(X))
    assert_array_equal(plain.named_steps["transf"].var_, renamed.named_steps["transf_2"].var_)


def test_changed_hyper_parameter_refits_only_that_step(tmp_path: Path, fit_log: Path) -> None:
    """A changed parameter of one step refits that step; the unchanged step before it loads."""
    X, y = load_wine(return_X_y=True)
    memory = recyclable.Memory(tmp_path / "cache")
    pipeline(memory, components=2).fit(X, y)
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (1, 1)
    changed = pipeline(memory, components=3).fit(X, y)
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (1, 2)
    assert_array_equal(
        changed.predict_proba(X), pipeline(None, components=3).fit(X, y).predict_proba(X)
    )
    before = fits(fit_log, "scaler")  # the uncached reference fitted one too
    scaler = CountingScaler(with_mean=False)
    Pipeline([("scale", scaler), ("clf", LogisticRegression(max_iter=500))], memory=memory).fit(
        X, y
    )
    assert fits(fit_log, "scaler") == before + 1, "with_mean=False is another scaler: a new fit"


@pytest.mark.slow
def test_second_process_loads_the_fitted_transformers(tmp_path: Path, fit_log: Path) -> None:
    """A fresh process fitting the same pipeline loads both transformers instead of fitting.

    Its predictions equal an uncached pipeline's fitted here; a changed
    n_components refits PCA only, and a renamed step loads.
    """
    X, y = load_iris(return_X_y=True)
    cache = tmp_path / "cache"
    first = _child("fit", cache, "sk")
    assert (first["computed"], first["loaded"]) == (2, 0)
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (1, 1)

    second = _child("fit", cache, "sk")
    assert (second["computed"], second["loaded"]) == (0, 2)
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (1, 1)
    plain = pipeline(None).fit(X, y).predict_proba(X)
    assert_array_equal(np.array(second["predictions"]), plain)
    assert_array_equal(np.array(first["predictions"]), plain)
    os.environ.pop(LOG_VAR)  # the plain fit above is not the children's
    fit_log.unlink()
    os.environ[LOG_VAR] = str(fit_log)

    changed = _child("fit", cache, "sk", "--components", "3")
    assert (changed["computed"], changed["loaded"]) == (1, 1)
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (0, 1)
    assert_array_equal(
        np.array(changed["predictions"]), pipeline(None, components=3).fit(X, y).predict_proba(X)
    )
    fit_log.unlink()
    renamed = _child("fit", cache, "sk", "--step", "reduce")
    assert (renamed["computed"], renamed["loaded"]) == (0, 2)
    assert fits(fit_log) == 0


@pytest.mark.slow
def test_grid_search_with_two_workers_fits_each_fold_once(tmp_path: Path, fit_log: Path) -> None:
    """GridSearchCV(n_jobs=2): each fold's transformers are fitted once for both values of C.

    3 folds + the refit = 4 fits of each transformer instead of 7, across two
    loky workers racing for the same folds; a second search fits none and
    finds what an uncached search finds.
    """
    X, y = load_iris(return_X_y=True)
    cache = tmp_path / "cache"
    first = _child("grid", cache, "grid")
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (4, 4)
    pids = {json.loads(line)["pid"] for line in fit_log.read_text().splitlines()}
    assert len(pids) >= 2, "the folds were meant to be fitted in worker processes"
    second = _child("grid", cache, "grid")
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (4, 4)
    assert second["loaded"] == 2  # the refit in the parent; workers' loads are their own
    fit_log.unlink()
    plain = grid_search(None).set_params(n_jobs=1).fit(X, y)
    assert first["best_params"] == second["best_params"] == plain.best_params_
    assert_array_equal(np.array(second["predictions"]), plain.predict_proba(X))


def test_column_transformer_with_a_cached_inner_pipeline(tmp_path: Path, fit_log: Path) -> None:
    """A memory-backed Pipeline inside a ColumnTransformer loads its fit on the second fit."""
    X, y = load_wine(return_X_y=True)
    memory = recyclable.Memory(tmp_path / "cache", pool="inner")

    def model() -> Pipeline:
        inner = Pipeline(
            [("scale", CountingScaler()), ("pca", CountingPCA(n_components=2))], memory=memory
        )
        columns = ColumnTransformer(
            [("first", inner, [0, 1, 2, 3, 4]), ("rest", "passthrough", [5, 6])]
        )
        return Pipeline([("columns", columns), ("clf", LogisticRegression(max_iter=1000))])

    first = model().fit(X, y)
    second = model().fit(X, y)
    assert fits(fit_log, "scaler") == 1
    assert memory.pool is not None and memory.pool.stats.loaded == 1
    assert_array_equal(first.predict_proba(X), second.predict_proba(X))


@pytest.mark.slow
def test_cached_function_runs_in_spawned_workers_of_a_signed_cache(
    tmp_path: Path, fit_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MemorizedFunc sent to spawn workers recycles there; its secret comes from their env.

    The worker that calls second loads what the first stored: one recorded call.
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from sklearn_steps import column_means

    monkeypatch.setenv("RECYCLABLE_SECRET", "a-long-shared-secret")
    memory = recyclable.Memory(tmp_path / "cache", secret="a-long-shared-secret")
    cached = memory.cache(column_means)
    X, _ = load_iris(return_X_y=True)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as executor:
        first = executor.submit(cached, X).result()
        second = executor.submit(cached, X).result()
    assert fits(fit_log, "means") == 1
    assert_array_equal(first, X.mean(axis=0))
    assert_array_equal(second, X.mean(axis=0))
    assert cached.check_call_in_cache(X)


def test_agglomerative_clustering_loads_its_tree(tmp_path: Path) -> None:
    """AgglomerativeClustering(memory=...) stores the tree once; the next fit loads it.

    Labels equal an uncached fit's, with and without a connectivity graph.
    """
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.neighbors import kneighbors_graph

    X, _ = load_iris(return_X_y=True)
    memory = recyclable.Memory(tmp_path / "cache")
    assert memory.pool is not None
    graph = kneighbors_graph(X, 30, include_self=False)  # one connected component
    for connectivity in (None, graph):
        plain = AgglomerativeClustering(n_clusters=3, connectivity=connectivity).fit(X)
        before = memory.pool.stats.loaded
        for _ in range(2):
            cached = AgglomerativeClustering(
                n_clusters=3, connectivity=connectivity, memory=memory
            ).fit(X)
            assert_array_equal(cached.labels_, plain.labels_)
        assert memory.pool.stats.loaded == before + 1


_EDITABLE = """
import json, os
from sklearn.preprocessing import StandardScaler


class EditableScaler(StandardScaler):
    def fit(self, X, y=None, sample_weight=None):
        with open(os.environ["RECYCLABLE_TEST_FIT_LOG"], "a") as log:
            log.write(json.dumps({"step": "editable"}) + "\\n")
        super().fit(X, y, sample_weight)
        self.scale_ = self.scale_ * FACTOR  # the behaviour an edit changes
        return self
"""

_FIT_EDITABLE = """
import json, sys
import numpy as np
import recyclable
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from editable_steps import EditableScaler

X, y = load_iris(return_X_y=True)
memory = recyclable.Memory(sys.argv[1])
pipe = Pipeline([("scale", EditableScaler()), ("clf", LogisticRegression(max_iter=500))],
                memory=memory).fit(X, y)
print(json.dumps({"loaded": memory.pool.stats.loaded,
                  "scale": pipe.named_steps["scale"].scale_.tolist()}))
"""


def _fit_editable(tmp_path: Path, factor: str, comment: str = "") -> dict[str, Any]:
    (tmp_path / "editable_steps.py").write_text(
        _EDITABLE.replace("FACTOR", factor).replace("return self", f"return self{comment}")
    )
    env = dict(os.environ)  # conftest removed the caller's RECYCLABLE_*; the guard's switch stays
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(tmp_path)])
    # No .pyc: an edit within the same second that keeps the file's size would
    # otherwise be read from a stale one.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _FIT_EDITABLE, str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_an_edited_transformer_class_refits_in_the_next_process(
    tmp_path: Path, fit_log: Path
) -> None:
    """Editing the transformer's own code between two processes refits it.

    The second process's fitted scale equals what the edited code computes;
    a cosmetic edit (a comment) still loads.
    """
    X, _ = load_iris(return_X_y=True)
    first = _fit_editable(tmp_path, "1.0")
    cosmetic = _fit_editable(tmp_path, "1.0", comment="  # unchanged behaviour")
    assert (first["loaded"], cosmetic["loaded"]) == (0, 1)
    edited = _fit_editable(tmp_path, "2.0")
    assert_array_equal(np.array(edited["scale"]), 2.0 * X.std(axis=0))
    assert edited["loaded"] == 0
    assert fits(fit_log, "editable") == 2


def test_a_pipeline_cached_in_object_storage(tmp_path: Path, fit_log: Path, s3: Any) -> None:
    """Memory('s3://...') (a real S3 protocol server on 127.0.0.1) caches a pipeline's fits.

    A second fit through a new memory on the same URL loads both transformers,
    and its predictions equal an uncached pipeline's.
    """
    X, y = load_iris(return_X_y=True)
    first = pipeline(recyclable.Memory(s3.url("sk"), storage_options=s3.options)).fit(X, y)
    again = recyclable.Memory(s3.url("sk"), storage_options=s3.options)
    second = pipeline(again).fit(X, y)
    assert (fits(fit_log, "scaler"), fits(fit_log, "pca")) == (1, 1)
    assert again.pool is not None and again.pool.stats.loaded == 2
    assert_array_equal(second.predict_proba(X), first.predict_proba(X))
    assert_array_equal(second.predict_proba(X), pipeline(None).fit(X, y).predict_proba(X))


_FEATURIZE = '''
import json, os


def scale_by(X):
    return X * FACTOR


def featurize(X):
    """Features of X."""
    with open(os.environ["RECYCLABLE_TEST_FIT_LOG"], "a") as log:
        log.write(json.dumps({"step": "featurize"}) + "\\n")
    return scale_by(X) + 1.0
'''

_CALL_FEATURIZE = """
import json, sys
import recyclable
from sklearn.datasets import load_iris
from featurize_steps import featurize

X, _ = load_iris(return_X_y=True)
memory = recyclable.Memory(sys.argv[1])
out = memory.cache(featurize)(X)
print(json.dumps({"loaded": memory.pool.stats.loaded, "sum": float(out.sum())}))
"""


def _featurize_in_child(tmp_path: Path, source: str) -> dict[str, Any]:
    (tmp_path / "featurize_steps.py").write_text(source)
    env = dict(os.environ)  # conftest removed the caller's RECYCLABLE_*; the guard's switch stays
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(tmp_path)])
    # No .pyc: an edit within the same second that keeps the file's size would
    # otherwise be read from a stale one.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _CALL_FEATURIZE, str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_an_edited_cached_function_or_helper_recomputes_in_the_next_process(
    tmp_path: Path, fit_log: Path
) -> None:
    """A function cached through Memory, or a helper it calls, edited between processes recomputes.

    Each result equals what the code on disk computes now; cosmetic edits
    (a docstring, a comment) and an unchanged re-run load.
    """
    X, _ = load_iris(return_X_y=True)
    original = _FEATURIZE.replace("FACTOR", "2.0")
    first = _featurize_in_child(tmp_path, original)
    rerun = _featurize_in_child(tmp_path, original)
    cosmetic = _featurize_in_child(
        tmp_path, original.replace('"""Features of X."""', '"""The features."""  # note')
    )
    assert (first["loaded"], rerun["loaded"], cosmetic["loaded"]) == (0, 1, 1)
    assert first["sum"] == float((X * 2.0 + 1.0).sum())
    helper_edited = _featurize_in_child(tmp_path, _FEATURIZE.replace("FACTOR", "3.0"))
    assert helper_edited["loaded"] == 0
    assert helper_edited["sum"] == float((X * 3.0 + 1.0).sum())
    body_edited = _featurize_in_child(
        tmp_path, _FEATURIZE.replace("FACTOR", "3.0").replace("+ 1.0", "+ 2.0")
    )
    assert body_edited["loaded"] == 0
    assert body_edited["sum"] == float((X * 3.0 + 2.0).sum())
    assert fits(fit_log, "featurize") == 3


@pytest.mark.slow
def test_the_grid_search_example_resumes(tmp_path: Path) -> None:
    """examples/sklearn_pipeline.py run twice: the second run loads the transformers it refits."""
    script = REPO / "examples" / "sklearn_pipeline.py"
    env = dict(os.environ)  # conftest removed the caller's RECYCLABLE_*; the guard's switch stays
    env["PYTHONPATH"] = str(REPO)
    outputs = [
        subprocess.run(
            [sys.executable, str(script), "--cache", str(tmp_path / "cache")],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert "loaded 0 and fitted 2 transformer(s)" in outputs[0]
    assert "loaded 2 and fitted 0 transformer(s)" in outputs[1]
    assert outputs[0].split(",")[:2] == outputs[1].split(",")[:2]  # same best C and accuracy


# Their logistic regression stops at max_iter on raw iris, as in scikit-learn's own runs.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learns_own_pipeline_memory_tests_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """scikit-learn's own Pipeline memory tests, run as shipped with joblib.Memory swapped out.

    They assert equal predictions, an unfitted input, a fit loaded on the
    second fit (its timestamp unchanged), a renamed step reusing it, and a
    cached scaler skipped by callbacks on a second fit.
    """
    import types

    from sklearn.tests import test_pipeline as upstream

    monkeypatch.setattr(upstream, "joblib", types.SimpleNamespace(Memory=recyclable.Memory))
    upstream.test_pipeline_memory()
    upstream.test_make_pipeline_memory()
    upstream.test_pipeline_memory_callbacks_second_fit_same_pipeline()
