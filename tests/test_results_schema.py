"""Tests for the typed metric schema of the results store (jaxrl.experiment.schema)."""

import numpy as np
import pytest

from jaxrl.experiment.results import ResultsStore
from jaxrl.experiment.schema import Metrics, MetricSpec, Schema, SchemaError

SCHEMA = Schema(
    "exp",
    (
        MetricSpec("ret", "float32", ("seed", "update"), "training return"),
        MetricSpec("steps", "int32", ("seed", "update")),
        MetricSpec("pbrs/final", "float64", ("seed",)),
    ),
)


def _arrays(seeds=3, updates=4):
    return {
        "ret": np.zeros((seeds, updates), np.float32),
        "steps": np.tile(np.arange(updates, dtype=np.int32), (seeds, 1)),
        "pbrs/final": np.ones(seeds),
    }


@pytest.fixture
def run(tmp_path):
    return ResultsStore(tmp_path).create("exp", {"a": 1}, "r")


def test_round_trip_records_the_schema_and_gives_named_access(run):
    arrays = _arrays()
    run.write_metrics("metrics", arrays, schema=SCHEMA)
    assert run.load_schema() == SCHEMA
    assert Schema.from_json(run.read_json("metrics.schema")) == SCHEMA
    m = run.load_metrics(schema=SCHEMA)
    assert isinstance(m, Metrics) and set(m) == set(arrays) and len(m) == 3
    assert dict(m.sizes) == {"seed": 3, "update": 4}
    for k, v in arrays.items():
        np.testing.assert_array_equal(m[k], v)
        assert m[k].dtype == v.dtype
    assert m.axis("ret", "update") == 1
    with pytest.raises(KeyError, match="'ret' has axes"):
        m.axis("ret", "lam")
    with pytest.raises(KeyError, match="no 'nope'"):
        m["nope"]


def test_without_a_schema_behaviour_is_unchanged(run):
    run.write_metrics("metrics", {"x": [1.0, 2.0]})
    assert run.load_schema() is None
    assert not (run.path / "metrics.schema.json").exists()
    m = run.load_metrics()
    assert type(m) is dict and list(m) == ["x"]


def test_wider_or_narrower_dtypes_of_the_same_kind_pass(run):
    arrays = _arrays()
    arrays["ret"] = arrays["ret"].astype(np.float64)
    arrays["steps"] = arrays["steps"].astype(np.int64)
    assert SCHEMA.validate(arrays) == {"seed": 3, "update": 4}


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda a: a.pop("steps"), r"missing metrics \['steps'\]"),
        (lambda a: a.update(extra=np.zeros(3)), r"undeclared metrics \['extra'\]"),
        (lambda a: a.update(ret=np.zeros(3, np.float32)), r"metric 'ret' has shape \(3,\)"),
        (
            lambda a: a.update(steps=np.zeros((3, 4), np.float32)),
            r"metric 'steps' has dtype float32, expected a int dtype like int32",
        ),
        (
            lambda a: a.update(**{"pbrs/final": np.ones(5)}),
            r"metric 'pbrs/final' has axis 'seed' of size 5, but metric 'ret' has 3",
        ),
        (
            lambda a: a.update(steps=np.zeros((3, 7), np.int32)),
            r"metric 'steps' has axis 'update' of size 7",
        ),
    ],
)
def test_violations_raise_naming_the_metric_and_write_nothing(run, edit, match):
    arrays = _arrays()
    edit(arrays)
    with pytest.raises(SchemaError, match=match):
        run.write_metrics("metrics", arrays, schema=SCHEMA)
    assert not (run.path / "metrics.npz").exists()
    assert not (run.path / "metrics.schema.json").exists()


def test_read_validates_against_the_expected_schema(run):
    run.write_metrics("metrics", _arrays())  # written before the experiment declared a schema
    assert isinstance(run.load_metrics(schema=SCHEMA), Metrics)
    bad = {**_arrays(), "ret": np.zeros((3, 4), np.int32)}
    run.write_metrics("bad", bad)
    with pytest.raises(SchemaError, match="metric 'ret' has dtype int32"):
        run.load_metrics("bad", schema=SCHEMA)
    run.write_metrics("metrics", _arrays(), schema=SCHEMA)
    other = Schema("exp", SCHEMA.metrics[:2] + (MetricSpec("pbrs/final", "float64", ("lam",)),))
    with pytest.raises(SchemaError, match="was written with schema"):
        run.load_metrics(schema=other)


def test_schema_rejects_duplicate_names_and_unknown_lookups():
    spec = MetricSpec("x", "float32", ("seed",))
    with pytest.raises(SchemaError, match=r"declares \['x'\] more than once"):
        Schema("exp", (spec, spec))
    assert SCHEMA["ret"].doc == "training return" and SCHEMA.names[0] == "ret"
    with pytest.raises(KeyError, match="no metric 'y'"):
        SCHEMA["y"]
    assert MetricSpec("b", np.bool_, ["seed"]) == MetricSpec("b", "bool", ("seed",))
