"""Feynman–Kac (FK) steering of a small 2-D DDPM with reward potentials.

FK steering (Singhal, Horvitz et al., "A General Framework for Inference-time Scaling and Steering
of Diffusion Models", 2025; seed-papers.txt "Feynman Kac") samples ``k`` interacting diffusion
processes (particles) and, at intermediate steps, resamples them by *potentials* ``G_t`` built from
a reward of intermediate states, chosen so that a high value means the particle will likely yield
a high-reward sample; the target of the whole system is the tilted law ``p(x0)·exp(λ r(x0))``.

Pieces (pure JAX, jittable; a 2-D toy, so the "model" is a tiny MLP):

* :class:`Schedule` / :func:`make_schedule`: DDPM linear β schedule, ``ᾱ_t = Π_{s≤t}(1 − β_s)``.
* :func:`init_eps_mlp`, :func:`eps_mlp`: noise predictor ``ε_θ(x_t, t)``, an MLP on
  ``[x_t, sinusoidal(t)]``.
* :func:`ddpm_loss` (Ho et al. 2020, eq. 14): ``E‖ε − ε_θ(√ᾱ_t x0 + √(1−ᾱ_t) ε, t)‖²``;
  :func:`train_ddpm`: Adam on it (``lax.scan``).
* :func:`predict_x0`: Tweedie's ``x̂0(x_t) = (x_t − √(1−ᾱ_t) ε_θ) / √ᾱ_t`` (the intermediate
  reward of the paper is ``r(x̂0(x_t))``).
* :func:`ancestral_step` / :func:`sample`: the DDPM ancestral sampler (Ho et al. eq. 11,
  σ_t² = β_t).
* :func:`log_potential`: ``log G_t`` for ``"diff"``: ``λ(r_t − r_{t+1})``, ``"max"``:
  ``λ max(r_t, r_{t+1})``; at the final step every kind uses ``λ r(x0) − Σ_lineage log G`` so the
  product of potentials along each lineage telescopes to ``exp(λ r(x0))`` (paper §3, the FK
  condition ``Π_t G_t = exp(λ r(x0))``; for ``diff`` this is automatically ``λ(r_0 − r_prev)``).
* :func:`multinomial_resample`: ``k`` indices i.i.d. from ``softmax(log w)`` (unbiased:
  ``E[#copies of i] = k·w̄_i``).
* :func:`fk_sample`: the FK-steered sampler (proposal = the base model's ancestral step), batch
  ``[B, k, 2]``, resampling at the steps in ``resample_at`` and at the end.
* :func:`best_of_n`: ``N`` independent samples, keep the argmax of the reward.

Rewards are functions ``r: [..., 2] -> [...]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

Potential = Literal["diff", "max"]
Reward = Callable[[jax.Array], jax.Array]
Params = list[tuple[jax.Array, jax.Array]]


class Schedule(NamedTuple):
    """DDPM schedule over ``T`` steps (index ``t = 0..T−1``, noise level rising with ``t``)."""

    betas: jax.Array  # [T]
    alpha_bars: jax.Array  # [T]


def make_schedule(num_steps: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> Schedule:
    """Linear β schedule rescaled to ``num_steps`` (β grows as 1000/T so ᾱ_T ≈ 0 at small T)."""
    if num_steps < 2:
        raise ValueError(f"num_steps={num_steps} must be >= 2")
    scale = 1000.0 / num_steps
    betas = jnp.linspace(beta_1 * scale, min(beta_T * scale, 0.999), num_steps)
    return Schedule(betas, jnp.cumprod(1.0 - betas))


def _time_embed(t: jax.Array, num_steps: int, dim: int = 16) -> jax.Array:
    """Sinusoidal embedding of the integer step ``t [...]`` -> ``[..., dim]``."""
    freqs = jnp.exp(jnp.linspace(0.0, jnp.log(100.0), dim // 2))
    a = (t.astype(jnp.float32) / num_steps)[..., None] * freqs
    return jnp.concatenate([jnp.sin(a), jnp.cos(a)], -1)


def init_eps_mlp(key: jax.Array, hidden: tuple[int, ...] = (128, 128), emb: int = 16) -> Params:
    """Params of ``ε_θ``: layers ``[(W [in, out], b [out])]``, input ``2 + emb``, output 2."""
    sizes = (2 + emb, *hidden, 2)
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (i, o)) * jnp.sqrt(1.0 / i), jnp.zeros((o,)))
        for k, i, o in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def eps_mlp(params: Params, x: jax.Array, t: jax.Array, num_steps: int) -> jax.Array:
    """``ε_θ(x_t, t)``: ``x [..., 2]``, integer ``t`` broadcastable to ``[...]`` -> ``[..., 2]``."""
    emb = params[0][0].shape[0] - 2
    t = jnp.broadcast_to(t, x.shape[:-1])
    h = jnp.concatenate([x, _time_embed(t, num_steps, emb)], -1)
    for w, b in params[:-1]:
        h = jax.nn.silu(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def ddpm_loss(params: Params, x0: jax.Array, key: jax.Array, sched: Schedule) -> jax.Array:
    """Ho et al. eq. 14 on a batch ``x0 [N, 2]``: uniform ``t``, ``x_t = √ᾱ x0 + √(1−ᾱ) ε``."""
    T = sched.betas.shape[0]
    kt, ke = jax.random.split(key)
    t = jax.random.randint(kt, x0.shape[:1], 0, T)
    eps = jax.random.normal(ke, x0.shape)
    ab = sched.alpha_bars[t][:, None]
    xt = jnp.sqrt(ab) * x0 + jnp.sqrt(1.0 - ab) * eps
    return jnp.mean(jnp.sum((eps - eps_mlp(params, xt, t, T)) ** 2, -1))


def train_ddpm(
    key: jax.Array,
    sample_data: Callable[[jax.Array, int], jax.Array],
    sched: Schedule,
    steps: int,
    batch: int = 256,
    learning_rate: float = 3e-3,
    hidden: tuple[int, ...] = (128, 128),
) -> tuple[Params, jax.Array]:
    """Fit ``ε_θ`` with Adam (cosine decay) on fresh batches ``sample_data(key, batch) [batch, 2]``.

    Returns ``(params, losses [steps])``; one ``lax.scan``, so it vmaps over seeds.
    """
    k_init, k_loop = jax.random.split(key)
    params = init_eps_mlp(k_init, hidden)
    opt = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05))

    def step(carry, k):
        p, s = carry
        kd, kl = jax.random.split(k)
        loss, g = jax.value_and_grad(ddpm_loss)(p, sample_data(kd, batch), kl, sched)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), loss

    (params, _), losses = jax.lax.scan(
        step, (params, opt.init(params)), jax.random.split(k_loop, steps)
    )
    return params, losses


def predict_x0(eps: jax.Array, x_t: jax.Array, t: jax.Array, sched: Schedule) -> jax.Array:
    """Tweedie's estimate ``x̂0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t``; shapes ``[..., 2]``."""
    ab = sched.alpha_bars[t]
    return (x_t - jnp.sqrt(1.0 - ab) * eps) / jnp.sqrt(ab)


def ancestral_step(
    x_t: jax.Array, t: jax.Array, eps: jax.Array, key: jax.Array, sched: Schedule
) -> jax.Array:
    """One DDPM reverse step ``x_t -> x_{t−1}`` (Ho et al. eq. 11, σ_t² = β_t; no noise at t=0)."""
    beta, ab = sched.betas[t], sched.alpha_bars[t]
    mean = (x_t - beta / jnp.sqrt(1.0 - ab) * eps) / jnp.sqrt(1.0 - beta)
    noise = jax.random.normal(key, x_t.shape)
    return mean + jnp.where(t > 0, jnp.sqrt(beta), 0.0) * noise


def sample(params: Params, key: jax.Array, shape: tuple[int, ...], sched: Schedule) -> jax.Array:
    """Plain ancestral samples ``[*shape, 2]`` from ``x_T ~ N(0, I)``."""
    T = sched.betas.shape[0]
    k0, k_loop = jax.random.split(key)

    def body(x, inp):
        t, k = inp
        return ancestral_step(x, t, eps_mlp(params, x, t, T), k, sched), None

    ts = jnp.arange(T - 1, -1, -1)
    x, _ = jax.lax.scan(body, jax.random.normal(k0, (*shape, 2)), (ts, jax.random.split(k_loop, T)))
    return x


def log_potential(kind: Potential, lam: float, r: jax.Array, r_prev: jax.Array) -> jax.Array:
    """Intermediate ``log G_t`` (paper §3.1) from ``r = r(x̂0(x_t))`` and the lineage's previous
    reward ``r_prev`` (0 before the first resampling step): ``diff``: ``λ(r − r_prev)`` (the
    sum telescopes); ``max``: ``λ max(r, r_prev)``."""
    if kind == "diff":
        return lam * (r - r_prev)
    if kind == "max":
        return lam * jnp.maximum(r, r_prev)
    raise ValueError(f"potential={kind!r}; expected 'diff' or 'max'")


def final_log_potential(lam: float, r0: jax.Array, log_prod: jax.Array) -> jax.Array:
    """Final ``log G_0 = λ r(x0) − Σ_lineage log G_t``: the product telescopes to
    ``exp(λ r(x0))`` for every kind (for ``diff`` it equals ``λ(r0 − r_prev)``)."""
    return lam * r0 - log_prod


def multinomial_resample(key: jax.Array, log_w: jax.Array) -> jax.Array:
    """``k`` ancestor indices i.i.d. ~ ``softmax(log_w [k])`` -> ``[k]`` (int). NaN weights -> 0."""
    log_w = jnp.where(jnp.isnan(log_w), -jnp.inf, log_w)
    return jax.random.categorical(key, log_w, shape=log_w.shape)


class FKResult(NamedTuple):
    """FK sampler output for ``B`` independent runs of ``k`` particles."""

    x0: jax.Array  # [B, k, 2] final particles (before the final resampling)
    reward: jax.Array  # [B, k] r(x0)
    log_prod: jax.Array  # [B, k] Σ of intermediate log G along each particle's lineage
    last_reward: jax.Array  # [B, k] r(x̂0) at the lineage's last intermediate resampling (or 0)
    final_log_w: jax.Array  # [B, k] final log G_0 = λ r(x0) − log_prod
    resampled: jax.Array  # [B, k, 2] particles after the final multinomial resampling
    best: jax.Array  # [B, 2] the highest-reward final particle (the returned sample)


def fk_sample(
    params: Params,
    key: jax.Array,
    sched: Schedule,
    reward: Reward,
    batch: int,
    k: int,
    lam: float,
    potential: Potential = "diff",
    resample_at: tuple[int, ...] = (),
) -> FKResult:
    """FK steering (paper Alg. 1) with the base model as proposal, ``B = batch`` runs of ``k``.

    At step ``t`` (``T−1 .. 0``) each particle computes ``ε_θ(x_t, t)``, ``x̂0`` and
    ``r_t = r(x̂0)``; if ``t ∈ resample_at`` the particles of each run are resampled with
    ``log G_t = log_potential(kind, λ, r_t, r_prev)`` (carrying ``r_prev`` and the lineage's
    ``log_prod`` with the ancestor), then all take an ancestral step. After ``x0`` the final
    weights ``λ r(x0) − log_prod`` give one last multinomial resampling.
    """
    T = sched.betas.shape[0]
    if potential not in ("diff", "max"):
        raise ValueError(f"potential={potential!r}; expected 'diff' or 'max'")
    bad = [t for t in resample_at if not 0 < t < T]
    if bad:
        raise ValueError(f"resample_at has steps {bad} outside 1..{T - 1}")
    mask = jnp.zeros((T,), bool).at[jnp.asarray(resample_at, jnp.int32)].set(True)
    take = jax.vmap(lambda a, i: a[i])  # per-run gather along the particle axis
    k0, k_loop, k_fin = jax.random.split(key, 3)

    def body(carry, inp):
        x, r_prev, log_prod = carry
        t, kk = inp
        k_res, k_step = jax.random.split(kk)
        eps = eps_mlp(params, x, t, T)
        r = reward(predict_x0(eps, x, t, sched))  # [B, k]
        log_g = log_potential(potential, lam, r, r_prev)
        idx = jax.vmap(multinomial_resample)(jax.random.split(k_res, batch), log_g)
        idx = jnp.where(mask[t], idx, jnp.arange(k)[None])
        x, eps = take(x, idx), take(eps, idx)
        r_prev = jnp.where(mask[t], take(r, idx), r_prev)
        log_prod = jnp.where(mask[t], take(log_prod + log_g, idx), log_prod)
        return (ancestral_step(x, t, eps, k_step, sched), r_prev, log_prod), None

    x = jax.random.normal(k0, (batch, k, 2))
    z = jnp.zeros((batch, k))
    ts = jnp.arange(T - 1, -1, -1)
    (x, r_last, log_prod), _ = jax.lax.scan(body, (x, z, z), (ts, jax.random.split(k_loop, T)))
    r0 = reward(x)
    log_w = final_log_potential(lam, r0, log_prod)
    idx = jax.vmap(multinomial_resample)(jax.random.split(k_fin, batch), log_w)
    best = take(x, jnp.argmax(r0, -1)[:, None])[:, 0]
    return FKResult(x, r0, log_prod, r_last, log_w, take(x, idx), best)


def best_of_n(
    params: Params, key: jax.Array, sched: Schedule, reward: Reward, batch: int, n: int
) -> tuple[jax.Array, jax.Array]:
    """Best-of-N: ``n`` independent samples per run, keep the max-reward one.

    Returns ``(best [B, 2], all samples [B, n, 2])``.
    """
    xs = sample(params, key, (batch, n), sched)
    i = jnp.argmax(reward(xs), -1)
    return jnp.take_along_axis(xs, i[:, None, None], 1)[:, 0], xs


def ring_means(num_modes: int = 8, radius: float = 2.0) -> jax.Array:
    """Means ``[M, 2]`` of the toy data: ``M`` modes evenly on a circle (mode 0 at angle 0)."""
    a = 2 * jnp.pi * jnp.arange(num_modes) / num_modes
    return radius * jnp.stack([jnp.cos(a), jnp.sin(a)], -1)


def sample_ring(key: jax.Array, n: int, means: jax.Array, std: float) -> jax.Array:
    """``n`` samples ``[n, 2]`` of the equal-weight mixture ``Σ_m N(means_m, std² I) / M``."""
    km, kn = jax.random.split(key)
    m = jax.random.randint(km, (n,), 0, means.shape[0])
    return means[m] + std * jax.random.normal(kn, (n, 2))


def ring_log_density(x: jax.Array, means: jax.Array, std: float) -> jax.Array:
    """Log-density of that mixture at ``x [..., 2]`` -> ``[...]``."""
    d2 = jnp.sum((x[..., None, :] - means) ** 2, -1)  # [..., M]
    log_n = -d2 / (2 * std**2) - jnp.log(2 * jnp.pi * std**2)
    return jax.nn.logsumexp(log_n, -1) - jnp.log(means.shape[0])


def nearest_mode_distance(x: jax.Array, means: jax.Array) -> jax.Array:
    """``min_m ‖x − means_m‖`` for ``x [..., 2]`` -> ``[...]``."""
    return jnp.sqrt(jnp.min(jnp.sum((x[..., None, :] - means) ** 2, -1), -1))
