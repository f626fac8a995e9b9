"""A multi-process program (``jax.distributed.initialize``, one process per "host") runs a
sharded seed sweep over the global mesh and gets the single-process metrics.

Two local processes, one CPU device each, talk over the loopback address with gloo CPU
collectives. Each runs the same script: the ppo_classic CartPole setup at a tiny budget, 4 seeds,
``run_sweep(..., shard=True)``. The seed axis is split over the 2-device global mesh (2 seeds per
process), both processes checkpoint their shards into the same run directory (orbax coordinates
them), and only process 0 writes ``metrics.npz``. A third, plain process runs the same config
unsharded as the reference.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from experiments.ppo_classic.schema import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 4

WORKER = textwrap.dedent(
    """
    import sys
    import jax

    pid, nproc, port, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if nproc > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}", num_processes=nproc, process_id=pid,
            initialization_timeout=300,
        )
    from jax.experimental import multihost_utils

    from experiments.ppo_classic.experiment import PPOClassic, setup
    from experiments.ppo_classic.schema import SCHEMA
    from jaxrl.agents.ppo import make_train
    from jaxrl.envs import make
    from jaxrl.experiment import ResultsStore
    from jaxrl.experiment.results import RunDir
    from jaxrl.experiment.sweep import grid_keys, run_sweep

    write_metrics = RunDir.write_metrics

    def logged(self, *args, **kwargs):  # the test counts the writers of metrics.npz
        print(f"WROTE_METRICS {jax.process_index()}", flush=True)
        return write_metrics(self, *args, **kwargs)

    RunDir.write_metrics = logged

    cfg = PPOClassic(seeds=SEEDS, envs=("CartPole-v1",), cartpole_steps=1024, num_chunks=2,
                     shard=nproc > 1)
    static, hp, transform = setup("CartPole-v1", cfg)
    env, env_params = make("CartPole-v1")
    trainer = make_train(static, env, transform, env_params)
    hp = trainer.check(hp).broadcast(cfg.seeds)
    store = ResultsStore(root)
    if pid == 0:  # one process creates the run directory; the others open it after a barrier
        run = store.create("multihost", {"experiment": cfg.recorded()}, run_id="r")
    if nproc > 1:
        multihost_utils.sync_global_devices("run directory created")
    if pid != 0:
        run = store.open("multihost", "r")
    metrics, state = run_sweep(cfg, run, trainer, grid_keys(cfg.seed, cfg.seeds), hp,
                               progress=False, schema=SCHEMA, return_state=True)
    if nproc > 1:
        # The sweep really is spread over both processes: each holds half of the seeds.
        assert (jax.device_count(), jax.local_device_count()) == (nproc, 1), jax.devices()
        for leaf in jax.tree_util.tree_leaves(state):
            if leaf.ndim:
                assert not leaf.is_fully_addressable, leaf.sharding
                rows = {s.data.shape[0] for s in leaf.addressable_shards}
                assert rows == {SEEDS // nproc}, rows
        # Every process sees the gathered global metrics.
        assert all(v.shape[0] == SEEDS for v in metrics.values())
    print(f"MULTIHOST_OK {pid}", flush=True)
    """
).replace("SEEDS", str(SEEDS))


def _gloo_available() -> bool:
    try:
        from jax._src.lib import _jax
    except ImportError:
        return False
    return hasattr(_jax, "make_gloo_tcp_collectives")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*flags, "--xla_force_host_platform_device_count=1"])
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _launch(nproc: int, root: Path) -> list[str]:
    """Run the worker as ``nproc`` processes; return each one's stdout."""
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(i), str(nproc), port, str(root)],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(nproc)
    ]
    outs = []
    try:
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=900)
            assert p.returncode == 0 and f"MULTIHOST_OK {i}" in out, (
                f"process {i} of {nproc} failed (rc {p.returncode}):\n{out[-2000:]}\n{err[-4000:]}"
            )
            outs.append(out)
    finally:
        for p in procs:  # a failed peer leaves the others waiting in a collective
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


@pytest.mark.slow
def test_two_process_sharded_sweep_matches_single_process(tmp_path):
    if not _gloo_available():
        pytest.skip("this jaxlib has no gloo CPU collectives (make_gloo_tcp_collectives)")
    multi_out = _launch(2, tmp_path / "multi")
    (single_out,) = _launch(1, tmp_path / "single")

    # Only process 0 wrote the results; both processes checkpointed their own shards.
    assert [o.count("WROTE_METRICS") for o in multi_out] == [1, 0], multi_out
    assert "WROTE_METRICS 0" in single_out
    run = tmp_path / "multi" / "multihost" / "r"
    written = sorted(p.name for p in (run / "checkpoints" / "1" / "state").glob("ocdbt.process_*"))
    assert written == ["ocdbt.process_0", "ocdbt.process_1"], written
    multi = dict(np.load(run / "metrics.npz"))
    single = dict(np.load(tmp_path / "single" / "multihost" / "r" / "metrics.npz"))
    assert sorted(multi) == sorted(single) == sorted(s.name for s in SCHEMA.metrics)
    for name in sorted(single):
        assert multi[name].shape == single[name].shape, name
        assert multi[name].shape[0] == SEEDS, name
        # Float rounding only: each device's program is compiled for 2 seeds instead of 4, so
        # XLA may order the float32 reductions (minibatch losses, KL estimates) differently.
        # rtol: some float32 ulps (eps 1.2e-7) accumulated over the updates; atol: those
        # reductions sum O(1) terms (normalised advantages, log-ratios) whose mean can be near
        # 0 (approx_kl ~1e-8 on the first epoch), so their error is absolute, not relative.
        np.testing.assert_allclose(multi[name], single[name], rtol=1e-5, atol=1e-6, err_msg=name)
