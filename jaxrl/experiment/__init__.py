"""Experiment infrastructure: results store, chunked runner, sharding, plots. The typed configs
(``Config``, ``cli``) are the bottom layer's, :mod:`jaxrl.config`.

Typical entry point::

    cfg = cli({"quick": MyConfig(...), "paper": MyConfig(...)}, __doc__)
    enable_compilation_cache()
    run = ResultsStore().create("my_experiment", cfg, resume=cfg.resume)
    metrics = run_chunked(init, chunk, keys, hparams, num_chunks=..., run=run, resume=cfg.resume)
    ...write figures / summaries...
    run.mark_done()
"""

from jaxrl.experiment.provenance import collect_provenance
from jaxrl.experiment.results import ResultsStore, RunDir, atomic_write, merge_shards
from jaxrl.experiment.runner import check_finite, enable_compilation_cache, run_chunked
from jaxrl.experiment.sharding import seed_mesh, seed_sharding, shard_seeds

__all__ = [
    "ResultsStore",
    "RunDir",
    "atomic_write",
    "check_finite",
    "collect_provenance",
    "enable_compilation_cache",
    "merge_shards",
    "run_chunked",
    "seed_mesh",
    "seed_sharding",
    "shard_seeds",
    "to_frame",
]


def __getattr__(name: str):
    # Lazy, so that `python -m jaxrl.experiment.frame` does not find its module already imported
    # (runpy's warning) and `import jaxrl.experiment` does not import pandas.
    if name == "to_frame":
        from jaxrl.experiment.frame import to_frame

        return to_frame
    raise AttributeError(f"module 'jaxrl.experiment' has no attribute {name!r}")
