"""Every experiment's declared metric schemas (``experiments/<name>/schema.py``).

The smoke tests (``tests/test_*experiment*.py``, ``test_barfi.py``, ``test_sam.py``,
``test_orpo_tomato.py``, ``test_ppo_pipeline.py``) check that real runs record and validate these
schemas; here they are checked for completeness and for naming the metric a bad array breaks.
"""

import numpy as np
import pytest

from experiments.barfi import schema as barfi
from experiments.lipschitz_gail import schema as lipschitz_gail
from experiments.orpo_tomato import schema as orpo_tomato
from experiments.orpo_tomato.config import METHODS
from experiments.pbrs import schema as pbrs
from experiments.pbrs.experiment import PITFALL_VARIANTS, TASKS, VARIANTS
from experiments.ppo_classic import schema as ppo_classic
from experiments.rlhf_shaping import schema as rlhf_shaping
from jaxrl.experiment.demonstrations import DEMOS_SCHEMA, expert_schema
from jaxrl.experiment.results import ResultsStore
from jaxrl.experiment.schema import Schema, SchemaError


def _pbrs_variants(task):
    return PITFALL_VARIANTS if task == "pitfall_q" else VARIANTS


SCHEMAS = {
    "ppo_classic": ppo_classic.SCHEMA,
    "lipschitz_gail": lipschitz_gail.SCHEMA,
    "orpo_tomato_base": orpo_tomato.BASE_SCHEMA,
    "orpo_exact": orpo_tomato.exact_schema(["kl", "sqrt_chi2_state"]),
    "demos": DEMOS_SCHEMA,
    **{f"barfi/{f}": barfi.schema(f) for f in ("baselines", "barfi")},
    **{f"rlhf/{t}": rlhf_shaping.schema(t) for t in ("bandit", "prm")},
    **{f"orpo/{m}": orpo_tomato.schema(m) for m in METHODS},
    **{f"expert/{a}": expert_schema(a) for a in ("sac", "td3")},
    **{f"pbrs/{t}": pbrs.schema(t, _pbrs_variants(t)) for t in TASKS},
    **{f"pbrs_raw/{t}": pbrs.raw_schema(t) for t in TASKS},
}


def _fake(schema: Schema) -> dict[str, np.ndarray]:
    """Arrays of the declared ranks and kinds; every named axis gets its own size."""
    sizes = {}
    for spec in schema.metrics:
        for axis in spec.axes:
            sizes.setdefault(axis, 2 + len(sizes))
    return {s.name: np.zeros([sizes[a] for a in s.axes], s.dtype) for s in schema.metrics}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_is_documented_and_validates_its_arrays(name, tmp_path):
    schema = SCHEMAS[name]
    assert all(spec.doc for spec in schema.metrics), [s.name for s in schema.metrics if not s.doc]
    run = ResultsStore(tmp_path).create("exp", {"a": 1}, "r")
    run.write_metrics("metrics", _fake(schema), schema=schema)
    assert run.load_schema() == schema  # JSON round trip
    assert set(run.load_metrics(schema=schema)) == set(schema.names)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_a_wrong_array_raises_naming_the_metric(name):
    schema = SCHEMAS[name]
    bad = schema.metrics[-1].name
    arrays = {**_fake(schema), bad: np.zeros((1,) * (len(schema[bad].axes) + 1))}
    with pytest.raises(SchemaError, match=f"metric '{bad}' has shape"):
        schema.validate(arrays)


def test_per_variant_keys_come_from_the_variants():
    s = pbrs.schema("grid_ppo", ("none", "bonus"))
    assert {pbrs.key(v, m) for v in ("none", "bonus") for m in ("true_return", "eval_return")} <= (
        set(s.names)
    )
    assert s[pbrs.key("bonus", "true_return")].axes == ("seed", "eval")
    assert pbrs.key("bonus", "true_return") not in pbrs.schema("grid_q", ("none",)).names
    exact = orpo_tomato.exact_schema(["kl"])
    assert exact[orpo_tomato.curve_key("kl", "lam")].axes == ("one", "kl/coef")
