"""Smoke test: the pbrs experiment (all four tasks), its figure and its claims on a tiny budget;
the claims on hand-made data; the sparse Brax Hopper arm."""

import numpy as np
import pytest
from experiment_helpers import ROOT, draw_figure, experiment, load_declared, load_script, run_quick

from experiments.pbrs.schema import raw_schema, schema
from jaxrl.experiment.claims import VERDICTS, read_claims

#: the pbrs claims of a run of the four default tasks
EXACT_CLAIMS = ("invariance_exact", "bicycle_exact", "terminal_exact")
LEARNED_CLAIMS = ("good_phi_faster", "invariance_learned", "bicycle_learned", "terminal_learned")


@pytest.mark.heavy
def test_pbrs_experiment_and_figure_smoke(tmp_path):
    exp = experiment("pbrs")
    runs = run_quick(
        "pbrs",
        tmp_path,
        "--q-steps 400 --q-evals 4 --pitfall-steps 400 --grid-ppo-steps 1024 "
        "--mcar-ppo-steps 2048 --ppo-evals 2 --checkpoints 2",
    )
    assert [r.config["task"] for r in runs] == list(exp.TASKS)
    for run in runs:
        assert run.is_done
        assert {"config.json", "provenance.json", "metrics.npz", "reference.json", "DONE"} <= {
            p.name for p in run.path.iterdir()
        }
        variants = run.config["variants"]
        m = load_declared(run, schema(run.config["task"], variants))
        load_declared(run, raw_schema(run.config["task"]), "raw")
        evals = 4 if run.config["agent"] == "q_learning" else 2
        for v in variants:
            assert m[f"{v}/true_return"].shape == (2, evals)  # leading seed axis
            assert np.all(np.isfinite(m[f"{v}/true_return"]))
        assert m["env_steps"].shape == (2, evals)
    ref = {r.config["task"]: r.read_json("reference") for r in runs}
    grid = ref["grid_q"]["variants"]
    assert grid["bonus"]["shaped_optimum_true_return"] == 0.0  # the bicycle loop
    for v in ("none", "pbrs_good", "pbrs_misleading"):
        np.testing.assert_allclose(
            grid[v]["shaped_optimum_true_return"], ref["grid_q"]["optimal_true_return"], rtol=1e-6
        )
    pit = ref["pitfall_q"]["variants"]
    assert (
        pit["naive_pbrs"]["shaped_optimum_true_return"]
        < 0.5
        < pit["pbrs"]["shaped_optimum_true_return"]
    )
    png = draw_figure("pbrs", tmp_path)
    assert png.exists() and png.stat().st_size > 10_000
    entry = read_claims(tmp_path / "out" / "claims.json")["pbrs"]
    assert entry["figures"] == ["pbrs.png"] and len(entry["runs"]) == len(runs)
    assert "grid_q: 400 env steps per seed" in entry["budget"]
    got = {c.id: c for c in entry["claims"]}
    assert set(got) == {f"pbrs.{t}" for t in EXACT_CLAIMS + LEARNED_CLAIMS}
    for c in got.values():
        assert c.verdict in VERDICTS and c.detail and c.quantities
        assert all(np.isfinite(q.point) for q in c.quantities.values())
    for t in EXACT_CLAIMS:  # the exact references asserted above make these hold
        assert got[f"pbrs.{t}"].verdict == "reproduced", got[f"pbrs.{t}"].detail
    q = got["pbrs.terminal_learned"].quantities
    assert {e.n for e in q.values()} == {2}  # the 2 seeds' final returns


def _refs(j_pbrs, j_bonus, j_ok, j_naive, naive_policy):
    """Hand-made ``reference.json`` s (J* = 0.6) of grid_q and of the pitfall on the layout
    ``SLG / ...`` (policy arrows: ``>>.`` crosses the lava cell, ``v.. / >>^`` goes around)."""
    grid = {v: {"shaped_optimum_true_return": j_pbrs} for v in ("pbrs_good", "pbrs_misleading")}
    grid["bonus"] = {"shaped_optimum_true_return": j_bonus}
    pit = {
        "pbrs": {"shaped_optimum_true_return": j_ok, "policy": ">>.\n..."},
        "naive_pbrs": {"shaped_optimum_true_return": j_naive, "policy": naive_policy},
    }
    return {"grid_q": {"optimal_true_return": 0.6, "variants": grid},
            "pitfall_q": {"optimal_true_return": 0.6, "variants": pit}}  # fmt: skip


def test_pbrs_claim_verdicts_follow_the_data():
    """Hand-made true returns [seeds, evals] and references into the claim function: data as the
    papers predict give ``reproduced``; the same arrays with the arms swapped flip the verdicts."""
    claims = load_script(ROOT / "paper_figures" / "pbrs_claims.py").claims
    rng = np.random.default_rng(0)
    noise = lambda: 0.01 * rng.random((8, 3))  # 8 seeds x 3 evaluations
    hi, lo, ramp = 0.6 + noise(), 0.2 + noise(), np.array([0.2, 0.4, 0.6]) + noise()
    layouts = {"pitfall_q": ["SLG", "..."]}

    def verdicts(grid, pit, refs):
        out = claims({"grid_q": grid, "pitfall_q": pit}, refs, layouts)
        return {c.id.removeprefix("pbrs."): c.verdict for c in out}

    paper = verdicts(
        {"none": ramp, "pbrs_good": hi, "pbrs_misleading": ramp, "bonus": lo},
        {"pbrs": hi, "naive_pbrs": lo},
        _refs(0.6, 0.0, 0.6, 0.4, ">>.\n..."),
    )
    assert paper == dict.fromkeys(EXACT_CLAIMS + LEARNED_CLAIMS, "reproduced")
    flipped = verdicts(
        {"none": hi, "pbrs_good": lo, "pbrs_misleading": lo, "bonus": hi},
        {"pbrs": lo, "naive_pbrs": hi},
        _refs(0.3, 0.6, 0.4, 0.6, "v..\n>>^"),
    )
    # the bonus keeps J* in these references: no changed optimum for learners to follow
    assert flipped == {**dict.fromkeys(paper, "not reproduced"), "bicycle_learned": "not testable"}
    # the bonus changes the optimum but the learner with it ends above no shaping
    v = verdicts({"none": ramp, "bonus": hi + 0.1}, {}, _refs(0.6, 0.0, 0.6, 0.4, ">>.\n..."))
    assert v["bicycle_learned"] == "not reproduced"
    # one part of a combined rule fails: the naive optimum goes around the lava
    v = verdicts({}, {}, _refs(0.6, 0.0, 0.6, 0.4, "v..\n>>^"))
    assert v["terminal_exact"] == "partial"
    # overlapping CIs with the point estimate above
    v = verdicts({"none": lo, "pbrs_good": lo + 0.001}, {}, {})
    assert v == {"good_phi_faster": "partial"}


def test_brax_sparse_reward_and_shapings_on_transitions():
    """Milestone reward m(x') − m(x) and the chained PBRS / bonus on hand-made transitions."""
    import jax.numpy as jnp
    import pytest

    from experiments.pbrs.brax_task import BRAX_GAMMA, hopper_transform, milestones
    from jaxrl.shaping import Transition

    x = jnp.array([-0.3, 0.0, 0.49, 0.5, 1.7])
    np.testing.assert_array_equal(milestones(x, 0.5), [0, 0, 0, 1, 3])
    # obs[..., 0] is the torso x; a 2-step batch: forward over a milestone, then falling back
    obs = jnp.array([[0.45, 9.0], [0.55, 9.0]])
    nxt = jnp.array([[0.55, 9.0], [0.40, 9.0]])
    sparse = milestones(nxt[:, 0], 0.5) - milestones(obs[:, 0], 0.5)
    np.testing.assert_array_equal(sparse, [1.0, -1.0])
    term = jnp.array([False, True])
    tr = Transition(
        obs=obs,
        action=jnp.zeros((2, 3)),
        reward=jnp.zeros(2),
        next_obs=nxt,
        terminated=term,
        truncated=jnp.zeros(2, bool),
        discount=BRAX_GAMMA * (1.0 - term),
        channels={"sparse_reward": sparse},
        time=jnp.zeros(2, jnp.int32),
    )
    t = hopper_transform(phi_scale=10.0, bonus=0.05)
    sparse_p, pbrs_p, bonus_p = t.default_params
    r, _ = t.apply((sparse_p, pbrs_p, 0.0 * bonus_p), t.init(t.default_params), tr)
    # PBRS: F = γ(1 − terminated)Φ(x') − Φ(x); Φ(terminal) = 0 on the falling step
    np.testing.assert_allclose(r, [1 + BRAX_GAMMA * 5.5 - 4.5, -1 + 0.0 - 5.5], rtol=1e-6)
    r, _ = t.apply((sparse_p, 0.0 * pbrs_p, bonus_p), t.init(t.default_params), tr)
    np.testing.assert_allclose(r, [1.05, -1.0], rtol=1e-6)  # bonus only for x' > x
    with pytest.raises(ValueError, match="spacing"):
        from experiments.pbrs.brax_task import MilestoneReward

        MilestoneReward(None, 0.0)


@pytest.mark.slow
def test_pbrs_brax_task_runs_end_to_end(tmp_path):
    """``--brax`` on a tiny budget: the sparse Brax Hopper run writes its declared metrics."""
    (run,) = run_quick(
        "pbrs",
        tmp_path,
        "--tasks brax_ppo --brax-ppo-steps 2048 --brax-episode-length 50 --ppo-evals 2 "
        "--checkpoints 2",
    )
    assert run.is_done and run.config["task"] == "brax_ppo"
    m = load_declared(run, schema("brax_ppo", run.config["variants"]))
    load_declared(run, raw_schema("brax_ppo"), "raw")
    assert run.config["variants"] == ["none", "pbrs_good", "bonus"]
    for v in run.config["variants"]:
        r = m[f"{v}/true_return"]
        assert r.shape == (2, 2) and np.all(np.isfinite(r)) and np.all(r >= 0)
    np.testing.assert_array_equal(m["env_steps"][0], [1024, 2048])
    png = draw_figure("pbrs", tmp_path)
    assert png.exists() and png.stat().st_size > 10_000
