"""Experiment infrastructure: typed configs, results store, chunked runner, sharding, plots.

Typical entry point::

    cfg = cli({"quick": MyConfig(...), "paper": MyConfig(...)}, __doc__)
    enable_compilation_cache()
    run = ResultsStore().create("my_experiment", cfg, resume=cfg.resume)
    metrics = run_chunked(init, chunk, keys, hparams, num_chunks=..., run=run, resume=cfg.resume)
    ...write figures / summaries...
    run.mark_done()
"""

from jaxrl.config import (
    Config,
    cli,
    config_hash,
    from_json_dict,
    to_json_dict,
    validate_types,
)
from jaxrl.experiment.provenance import collect_provenance
from jaxrl.experiment.results import ResultsStore, RunDir, atomic_write, merge_shards
from jaxrl.experiment.runner import check_finite, enable_compilation_cache, run_chunked
from jaxrl.experiment.sharding import seed_mesh, seed_sharding, shard_seeds

__all__ = [
    "Config",
    "ResultsStore",
    "RunDir",
    "atomic_write",
    "check_finite",
    "cli",
    "collect_provenance",
    "config_hash",
    "enable_compilation_cache",
    "from_json_dict",
    "merge_shards",
    "run_chunked",
    "seed_mesh",
    "seed_sharding",
    "shard_seeds",
    "to_json_dict",
    "validate_types",
]
