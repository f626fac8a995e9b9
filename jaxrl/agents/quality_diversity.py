"""Quality-Diversity search for sparse rewards: novelty search and MAP-Elites, in JAX.

* **Novelty search** (Lehman & Stanley, "Abandoning Objectives", 2011): selection ignores the
  reward and rewards *behavioural novelty*, the mean distance of a behaviour descriptor ``b`` to
  its k nearest neighbours among the archive and the current population (their eq. 1)::

      ρ(b) = (1/k) Σ_{i=1..k} dist(b, μ_i)

  The archive is a fixed-size ring buffer (a jax array): the ``n_add`` most novel behaviours of
  each generation are added to it.
* **MAP-Elites** (Mouret & Clune, 2015): the descriptor space is cut into a grid; each cell keeps
  its best genome (its *elite*); each iteration mutates elites picked uniformly among filled cells
  and inserts each child where it beats (or finds empty) its cell.

Genomes are **open-loop action sequences** ``[T]`` (int32 actions), not policy networks: on a
deterministic env with one start state (the deceptive maze without slip) a sequence is a complete
policy, mutation is a per-action resample, and evaluation is one ``lax.scan`` of the env, so a
population is a ``vmap``. (A closed-loop network would generalise across start states and noise,
which this testbed does not have.) Everything is pure and jittable: a whole run is a function of
one PRNG key, so runs are ``vmap``-ed over seeds.

Shapes: ``P`` population, ``T`` horizon, ``D`` descriptor dims, ``M`` archive size, ``C`` grid
cells, ``G`` generations / iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = Any
#: ``evaluate(genome [T], key) -> (fitness [], descriptor [D], env_steps [] int32)``
Evaluate = Callable[[Array, Array], tuple[Array, Array, Array]]


# ----------------------------------------------------------------------------- novelty
def knn_novelty(points: Array, reference: Array, valid: Array, k: int) -> Array:
    """Lehman & Stanley's novelty ``ρ``: mean Euclidean distance to the ``k`` nearest valid
    reference points.

    Args:
      points: ``[P, D]`` descriptors to score.
      reference: ``[M, D]`` the archive (and/or population).
      valid: ``[M]`` or ``[P, M]`` bool: which reference points count (per point, e.g. to exclude
        a point itself); with fewer than ``k`` valid ones the mean is over those, and 0 with none.
      k: neighbours (static int >= 1).

    Returns:
      ``[P]`` novelty.
    """
    if int(k) < 1:
        raise ValueError(f"knn_novelty: k must be >= 1, got {k}")
    k = min(int(k), reference.shape[0])
    diff = points[:, None, :] - reference[None, :, :]
    d = jnp.sqrt(jnp.sum(diff * diff, -1))  # [P, M]
    valid = jnp.broadcast_to(valid, d.shape)
    neg, _ = jax.lax.top_k(jnp.where(valid, -d, -jnp.inf), k)  # [P, k] nearest first
    near = -neg
    used = jnp.isfinite(near)
    n = jnp.sum(used, -1)
    return jnp.where(n > 0, jnp.sum(jnp.where(used, near, 0.0), -1) / jnp.maximum(n, 1), 0.0)


class Archive(NamedTuple):
    """Fixed-size novelty archive: ``points [M, D]``, ``valid [M]`` bool, ``count []`` int32
    (behaviours ever added; the ring buffer overwrites the oldest once ``count > M``)."""

    points: Array
    valid: Array
    count: Array


def archive_init(size: int, dim: int) -> Archive:
    return Archive(jnp.zeros((size, dim)), jnp.zeros((size,), bool), jnp.zeros((), jnp.int32))


def archive_add(archive: Archive, points: Array) -> Archive:
    """Appends ``points [n, D]`` at the ring-buffer position ``count % M``."""
    M, n = archive.points.shape[0], points.shape[0]
    idx = (archive.count + jnp.arange(n)) % M
    return Archive(
        archive.points.at[idx].set(points.astype(archive.points.dtype)),
        archive.valid.at[idx].set(True),
        archive.count + n,
    )


# ----------------------------------------------------------------------------- genomes
def random_genomes(key: Array, n: int, horizon: int, num_actions: int) -> Array:
    """``[n, T]`` uniform random action sequences."""
    return jax.random.randint(key, (n, horizon), 0, num_actions, jnp.int32)


def mutate(key: Array, genomes: Array, rate: float, num_actions: int) -> Array:
    """Resample each action of ``genomes [..., T]`` uniformly with probability ``rate``."""
    k1, k2 = jax.random.split(key)
    flip = jax.random.bernoulli(k1, rate, genomes.shape)
    new = jax.random.randint(k2, genomes.shape, 0, num_actions, genomes.dtype)
    return jnp.where(flip, new, genomes)


def open_loop_evaluator(
    env: Any, env_params: Any, descriptor_fn: Callable[[Any], Array], gamma: float = 1.0
) -> Evaluate:
    """Rollout of an action sequence in ``env`` (gymnax contract, no auto-reset: ``step_env``).

    Fitness is the discounted return ``Σ_t γ^t r_{t+1}`` up to termination (the env's own reward);
    the descriptor is ``descriptor_fn(final env state)`` (e.g. the final (row, col)); env steps
    are counted up to and including the terminating step (steps after it are not taken).
    """

    def evaluate(genome: Array, key: Array):
        k0, k = jax.random.split(key)
        _, state = env.reset_env(k0, env_params)

        def step(carry, xs):
            state, done, ret, disc, steps = carry
            a, kt = xs
            _, nxt, r, term, _ = env.step_env(kt, state, a, env_params)
            live = ~done
            state = jax.tree.map(lambda n, o: jnp.where(live, n, o), nxt, state)
            ret = ret + jnp.where(live, disc * r, 0.0)
            return (state, done | term, ret, disc * gamma, steps + live.astype(jnp.int32)), None

        keys = jax.random.split(k, genome.shape[0])
        init = (state, jnp.zeros((), bool), jnp.zeros(()), jnp.ones(()), jnp.zeros((), jnp.int32))
        (state, _, ret, _, steps), _ = jax.lax.scan(step, init, (genome, keys))
        return ret, jnp.asarray(descriptor_fn(state), jnp.float32), steps

    return evaluate


def _evaluate_all(evaluate: Evaluate, genomes: Array, key: Array):
    return jax.vmap(evaluate)(genomes, jax.random.split(key, genomes.shape[0]))


def grid_cell(desc: Array, low: Array, high: Array, shape: tuple[int, ...]) -> Array:
    """Flat MAP-Elites cell of descriptors ``[..., D]``: ``shape[d]`` equal bins over
    ``[low[d], high[d]]`` per dim (values outside are clipped into the edge bins)."""
    shape_a = jnp.asarray(shape)
    frac = (desc - low) / (jnp.asarray(high) - low)
    b = jnp.clip(jnp.floor(frac * shape_a).astype(jnp.int32), 0, shape_a - 1)
    return jnp.ravel_multi_index(tuple(jnp.moveaxis(b, -1, 0)), shape, mode="clip")


class QDConfig(NamedTuple):
    """Static settings of both searches (Python numbers; closed over, never traced).

    ``population``: P (novelty search) / batch of children per iteration (MAP-Elites);
    ``generations``: G; ``horizon``: T; ``num_actions``; ``mutation_rate``; ``k``: novelty
    neighbours; ``archive_size``: M; ``n_add``: behaviours added to the archive per generation;
    ``grid_low``/``grid_high``/``grid_shape``: the descriptor grid (MAP-Elites cells, and the
    coverage count of both); ``success``: fitness above which a genome solves the task;
    ``tournament``: entrants per tournament (novelty search's selection pressure).
    """

    population: int = 64
    generations: int = 100
    horizon: int = 48
    num_actions: int = 4
    mutation_rate: float = 0.1
    k: int = 10
    archive_size: int = 1024
    n_add: int = 4
    grid_low: tuple[float, ...] = (0.0, 0.0)
    grid_high: tuple[float, ...] = (1.0, 1.0)
    grid_shape: tuple[int, ...] = (8, 8)
    success: float = 0.0
    tournament: int = 2


class QDResult(NamedTuple):
    """Per-generation history ``[G]`` and final outputs of one run.

    ``solved``: a genome with fitness > success has been evaluated (cumulative); ``best_fitness``
    so far; ``coverage``: grid cells reached so far; ``env_steps``: cumulative env steps;
    ``best_genome [T]`` and ``best_descriptor [D]`` of the best genome ever evaluated;
    ``archive``: the final novelty archive (novelty search) or cell descriptors (MAP-Elites).
    """

    solved: Array
    best_fitness: Array
    coverage: Array
    env_steps: Array
    best_genome: Array
    best_descriptor: Array
    archive: Any


class _Track(NamedTuple):
    best_fit: Array
    best_genome: Array
    best_desc: Array
    visited: Array
    steps: Array


def _track(cfg: QDConfig, tr: _Track, genomes, fit, desc, steps) -> _Track:
    i = jnp.argmax(fit)
    better = fit[i] > tr.best_fit
    cells = grid_cell(desc, jnp.asarray(cfg.grid_low), jnp.asarray(cfg.grid_high), cfg.grid_shape)
    return _Track(
        jnp.where(better, fit[i], tr.best_fit),
        jnp.where(better, genomes[i], tr.best_genome),
        jnp.where(better, desc[i], tr.best_desc),
        tr.visited.at[cells].set(True),
        tr.steps + jnp.sum(steps),
    )


def _track_init(cfg: QDConfig, dim: int) -> _Track:
    C = 1
    for s in cfg.grid_shape:
        C *= s
    return _Track(
        jnp.asarray(-jnp.inf),
        jnp.zeros((cfg.horizon,), jnp.int32),
        jnp.zeros((dim,)),
        jnp.zeros((C,), bool),
        jnp.zeros((), jnp.int32),
    )


def _history(cfg: QDConfig, tr: _Track):
    return (tr.best_fit > cfg.success, tr.best_fit, jnp.sum(tr.visited), tr.steps)


# ----------------------------------------------------------------------------- searches
def novelty_search(key: Array, evaluate: Evaluate, cfg: QDConfig) -> QDResult:
    """Novelty search: each generation evaluates the population, scores novelty against the
    archive ∪ population (each individual excluded from its own neighbours), adds the ``n_add``
    most novel to the archive, and breeds the next population by tournaments on novelty
    and mutation. The reward is never used for selection; it is only recorded."""
    P, dim = cfg.population, len(cfg.grid_low)
    k_init, k_loop = jax.random.split(key)
    pop = random_genomes(k_init, P, cfg.horizon, cfg.num_actions)
    self_mask = jnp.concatenate([jnp.ones((P, cfg.archive_size), bool), ~jnp.eye(P, dtype=bool)], 1)

    def gen(carry, k):
        pop, archive, tr = carry
        k_eval, k_tour, k_mut = jax.random.split(k, 3)
        fit, desc, steps = _evaluate_all(evaluate, pop, k_eval)
        ref = jnp.concatenate([archive.points, desc], 0)
        valid = self_mask & jnp.concatenate([archive.valid, jnp.ones((P,), bool)])[None]
        nov = knn_novelty(desc, ref, valid, cfg.k)
        _, top = jax.lax.top_k(nov, cfg.n_add)
        archive = archive_add(archive, desc[top])
        tr = _track(cfg, tr, pop, fit, desc, steps)
        entrants = jax.random.randint(k_tour, (P, cfg.tournament), 0, P)
        win = jnp.take_along_axis(entrants, jnp.argmax(nov[entrants], 1)[:, None], 1)[:, 0]
        pop = mutate(k_mut, pop[win], cfg.mutation_rate, cfg.num_actions)
        return (pop, archive, tr), _history(cfg, tr)

    init = (pop, archive_init(cfg.archive_size, dim), _track_init(cfg, dim))
    (_, archive, tr), hist = jax.lax.scan(gen, init, jax.random.split(k_loop, cfg.generations))
    return QDResult(*hist, tr.best_genome, tr.best_desc, archive)


class Elites(NamedTuple):
    """MAP-Elites grid: ``genomes [C, T]``, ``fitness [C]`` (−inf = empty), ``descriptors
    [C, D]``."""

    genomes: Array
    fitness: Array
    descriptors: Array

    @property
    def filled(self) -> Array:
        return jnp.isfinite(self.fitness)


def elites_init(cells: int, horizon: int, dim: int) -> Elites:
    """An empty grid of ``cells`` cells."""
    empty = jnp.full((cells,), -jnp.inf)
    return Elites(jnp.zeros((cells, horizon), jnp.int32), empty, jnp.zeros((cells, dim)))


def elites_insert(elites: Elites, cells: Array, genomes: Array, fit: Array, desc: Array) -> Elites:
    """Insert children ``[n]`` in order: each replaces its cell's elite when its fitness is
    strictly higher (an empty cell has −inf), so the grid keeps the best per cell (ties keep the
    incumbent)."""

    def one(el: Elites, x):
        c, g, f, d = x
        better = f > el.fitness[c]
        return Elites(
            el.genomes.at[c].set(jnp.where(better, g, el.genomes[c])),
            el.fitness.at[c].set(jnp.where(better, f, el.fitness[c])),
            el.descriptors.at[c].set(jnp.where(better, d, el.descriptors[c])),
        ), None

    out, _ = jax.lax.scan(one, elites, (cells, genomes, fit.astype(elites.fitness.dtype), desc))
    return out


def map_elites(key: Array, evaluate: Evaluate, cfg: QDConfig) -> QDResult:
    """MAP-Elites: a random initial batch of ``population`` genomes, then ``generations - 1``
    iterations of (pick ``population`` elites uniformly among filled cells, mutate, evaluate,
    insert). Fitness is the env return (sparse: it only orders genomes within a cell)."""
    B, dim = cfg.population, len(cfg.grid_low)
    low, high = jnp.asarray(cfg.grid_low), jnp.asarray(cfg.grid_high)
    cell_of = lambda desc: grid_cell(desc, low, high, cfg.grid_shape)
    k_init, k_first, k_loop = jax.random.split(key, 3)
    first = random_genomes(k_init, B, cfg.horizon, cfg.num_actions)
    fit, desc, steps = _evaluate_all(evaluate, first, k_first)
    track = _track_init(cfg, dim)
    elites = elites_insert(elites_init(track.visited.size, cfg.horizon, dim), cell_of(desc), first,
                           fit, desc)  # fmt: skip
    tr0 = _track(cfg, track, first, fit, desc, steps)

    def it(carry, k):
        elites, tr = carry
        k_pick, k_mut, k_eval = jax.random.split(k, 3)
        logits = jnp.where(elites.filled, 0.0, -jnp.inf)
        parents = jax.random.categorical(k_pick, logits, shape=(B,))
        kids = mutate(k_mut, elites.genomes[parents], cfg.mutation_rate, cfg.num_actions)
        fit, desc, steps = _evaluate_all(evaluate, kids, k_eval)
        elites = elites_insert(elites, cell_of(desc), kids, fit, desc)
        tr = _track(cfg, tr, kids, fit, desc, steps)
        return (elites, tr), _history(cfg, tr)

    keys = jax.random.split(k_loop, cfg.generations - 1)
    (elites, tr), hist = jax.lax.scan(it, (elites, tr0), keys)
    h0 = _history(cfg, tr0)
    hist = jax.tree.map(lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b]), h0, hist)
    return QDResult(*hist, tr.best_genome, tr.best_desc, elites)
