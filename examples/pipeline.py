"""A microbiome-style amplicon analysis made resumable with recyclable.

    simulate_reads → quality_filter → dereplicate → feature_table → rarefy
                                                                  ├→ alpha_diversity
                                                                  └→ beta_diversity → ordinate

Every step is a ``@recyclable`` action and ``analyze`` is the pipeline that
calls them.  Run it once with a simulated failure, then run the same command
without it: the steps that had finished are loaded from the pool instead of
being computed again::

    python examples/pipeline.py --fail-at beta_diversity   # fails part-way
    python examples/pipeline.py                            # resumes

Each run shows a progress line for a step that runs for more than a few
seconds, a table of the steps on stderr when it ends (or fails), and writes
``amplicon-report.html``: the step graph with what each step fed, which steps
were loaded, computed or failed, and their times, sizes and arguments.

Killing the first run (Ctrl-C or ``kill -9``) works the same way: whatever
finished before the kill is reused.  Change ``--min-quality`` and only the
steps downstream of the quality filter run again.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from recyclable import Cache, Pool, recyclable

# The step that raises, to show a failed run (--fail-at).  Kept in the
# environment on purpose: module-level values a step reads are part of its key,
# and a run that fails on purpose must not change the keys of the steps it keeps.
_FAIL_AT = "RECYCLABLE_EXAMPLE_FAIL_AT"


class SimulatedFailure(RuntimeError):
    """Stands in for whatever kills a long run: a full disk, a lost node, a bug."""


def _checkpoint(step: str) -> None:
    if step == os.environ.get(_FAIL_AT):
        raise SimulatedFailure(f"simulated failure in {step} (think: the node ran out of memory)")


@recyclable
def simulate_reads(
    n_samples: int, reads_per_sample: int, read_length: int, seed: int
) -> dict[str, np.ndarray]:
    """Sequencing reads (bases 0-3) with Phred qualities, drawn from a shared community."""
    _checkpoint("simulate_reads")
    rng = np.random.default_rng(seed)
    n_taxa = 400
    references = rng.integers(0, 4, size=(n_taxa, read_length), dtype=np.uint8)
    abundance = rng.dirichlet(np.full(n_taxa, 0.3), size=n_samples)
    n_reads = n_samples * reads_per_sample
    sample = np.repeat(np.arange(n_samples, dtype=np.int32), reads_per_sample)
    taxon = np.concatenate(
        [rng.choice(n_taxa, size=reads_per_sample, p=abundance[s]) for s in range(n_samples)]
    )
    reads = references[taxon]
    errors = rng.random((n_reads, read_length)) < 0.004
    reads[errors] = rng.integers(0, 4, size=int(errors.sum()), dtype=np.uint8)
    quality = np.clip(rng.normal(34, 5, size=(n_reads, read_length)), 2, 41).astype(np.uint8)
    bad = rng.random(n_reads) < 0.08
    quality[bad] //= 3
    return {"reads": reads, "quality": quality, "sample": sample}


@recyclable
def quality_filter(run: dict[str, np.ndarray], min_quality: int = 20) -> dict[str, np.ndarray]:
    """Keep reads whose mean quality reaches ``min_quality``."""
    _checkpoint("quality_filter")
    keep = run["quality"].mean(axis=1) >= min_quality
    return {"reads": run["reads"][keep], "sample": run["sample"][keep]}


@recyclable
def dereplicate(filtered: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Collapse identical reads into features; each read gets its feature index."""
    _checkpoint("dereplicate")
    reads = np.ascontiguousarray(filtered["reads"])
    rows = reads.view(np.dtype((np.void, reads.shape[1]))).ravel()
    _, feature = np.unique(rows, return_inverse=True)
    return {"feature": feature.astype(np.int64), "sample": filtered["sample"]}


@recyclable
def feature_table(features: dict[str, np.ndarray], n_samples: int) -> np.ndarray:
    """Counts of each feature in each sample (samples × features)."""
    _checkpoint("feature_table")
    n_features = int(features["feature"].max()) + 1
    flat = features["sample"].astype(np.int64) * n_features + features["feature"]
    counts = np.bincount(flat, minlength=n_samples * n_features)
    return counts.reshape(n_samples, n_features)


@recyclable
def rarefy(table: np.ndarray, depth: int, seed: int) -> np.ndarray:
    """Subsample every sample to ``depth`` reads, without replacement."""
    _checkpoint("rarefy")
    rng = np.random.default_rng(seed)
    return np.stack([rng.multivariate_hypergeometric(row, depth) for row in table])


@recyclable
def alpha_diversity(rarefied: np.ndarray) -> np.ndarray:
    """Shannon diversity of each sample."""
    _checkpoint("alpha_diversity")
    p = rarefied / rarefied.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1)


@recyclable
def beta_diversity(rarefied: np.ndarray) -> np.ndarray:
    """Bray-Curtis dissimilarity between every pair of samples."""
    _checkpoint("beta_diversity")
    x = rarefied.astype(np.float64)
    n = x.shape[0]
    distances = np.zeros((n, n))
    for i in range(n):
        shared = np.minimum(x[i], x).sum(axis=1)
        distances[i] = 1.0 - 2.0 * shared / (x[i].sum() + x.sum(axis=1))
    return distances


@recyclable
def ordinate(distances: np.ndarray) -> np.ndarray:
    """Principal coordinates (PCoA) of a distance matrix: the first two axes."""
    _checkpoint("ordinate")
    n = distances.shape[0]
    centering = np.eye(n) - np.full((n, n), 1.0 / n)
    gram = -0.5 * centering @ (distances**2) @ centering
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:2]
    return vectors[:, order] * np.sqrt(np.maximum(values[order], 0.0))


@recyclable
def analyze(
    n_samples: int = 12,
    reads_per_sample: int = 40_000,
    read_length: int = 150,
    min_quality: int = 20,
    depth: int = 20_000,
    seed: int = 7,
) -> dict[str, np.ndarray]:
    """The pipeline: reads → features → rarefied table → alpha and beta diversity → ordination."""
    run = simulate_reads(n_samples, reads_per_sample, read_length, seed)
    table = feature_table(dereplicate(quality_filter(run, min_quality)), n_samples)
    rarefied = rarefy(table, depth, seed)
    alpha = alpha_diversity(rarefied)
    distances = beta_diversity(rarefied)
    return {"alpha": alpha, "distances": distances, "coordinates": ordinate(distances)}


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline in a pool, as a user would from a shell."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=".recyclable-example-cache", help="cache directory")
    parser.add_argument("--pool", default="amplicon-example", help="pool name")
    parser.add_argument("--fail-at", default=None, help="step that fails (to show resumption)")
    parser.add_argument("--min-quality", type=int, default=20)
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--reads", type=int, default=40_000, help="reads per sample")
    parser.add_argument("--depth", type=int, default=None, help="rarefaction depth (reads / 2)")
    parser.add_argument("--report", default="amplicon-report.html", help="HTML report page")
    args = parser.parse_args(argv)
    if args.fail_at:
        os.environ[_FAIL_AT] = args.fail_at
    else:
        os.environ.pop(_FAIL_AT, None)

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  recyclable: %(message)s"))
    log = logging.getLogger("recyclable")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    cache = Cache(Path(args.cache))
    pool = cache.create_pool(args.pool, reuse=True)
    pool.progress = True  # a progress line on stderr for steps that run long
    print(f"pipeline run in pool {pool.name!r} of cache {cache.path}")
    start = time.perf_counter()
    try:
        with pool:
            result = analyze(
                n_samples=args.samples,
                reads_per_sample=args.reads,
                min_quality=args.min_quality,
                depth=args.depth or args.reads // 2,
            )
    except SimulatedFailure as exc:
        print(f"FAILED: {exc}")
        _finish(pool, args.report, time.perf_counter() - start, failed=True)
        print("run the same command again (without --fail-at) to resume.")
        return 1
    except KeyboardInterrupt:
        _finish(pool, args.report, time.perf_counter() - start, failed=True)
        print("INTERRUPTED: run the same command again to resume.")
        return 130
    print(f"Shannon diversity per sample: {np.round(result['alpha'], 3).tolist()}")
    print(f"first sample on PCoA axes 1-2: {np.round(result['coordinates'][0], 4).tolist()}")
    _finish(pool, args.report, time.perf_counter() - start, failed=False)
    return 0


def _finish(pool: Pool, report: str, elapsed: float, *, failed: bool) -> None:
    """The end-of-run table on stderr, and the report page."""
    sys.stdout.flush()
    print(pool.summary(elapsed=elapsed, failed=failed), file=sys.stderr)
    print(f"report: {pool.report(report)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
