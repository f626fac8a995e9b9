"""ONI: online intrinsic rewards distilled from asynchronous (LLM) labels, as a reward transform.

Zheng, Henaff, Zhang, Grover, Amos, "Online Intrinsic Rewards for Decision Making Agents from
Large Language Model Feedback" (RLC 2025; facebookresearch/oni). While the policy trains, the
agent's experience is sent to an asynchronous LLM server that labels it (progress-like or not);
an intrinsic reward model is distilled online from those labels, and the learner's reward is

    r = r_env + β · r_int(s') · N(s')^(−α)                                (ONI reward mixing)

with ``N`` the per-episode count of the observation's message/bucket (the Motif-style
anti-repetition term; the paper's ``beta_count_exponent`` α = 3). Three reward models (the
paper's variants), chosen by the constructor's ``model``:

* ``"hashing"`` (ONI-Retrieval): a table bucket → labels, reward = 1[mean stored label > 1/2];
  an unlabelled bucket pays 0 (the paper: a dict message → label, unseen → 0). The bucket is a
  SimHash of the observation (sign bits of a fixed Gaussian projection; Charikar 2002), the
  small-scale stand-in for the exact message string.
* ``"classifier"`` (ONI-Classification): an MLP p(positive | s') trained by binary
  cross-entropy, one Adam step per env step on a minibatch of the label buffer; reward =
  1[p > 1/2] (the paper's ``classification_threshold``).
* ``"ranking"`` (ONI-Ranking, online Motif): an MLP score r_φ(s') trained by Bradley-Terry with
  soft labels on uniformly sampled labelled pairs (label 1 / 0 / tie 1/2); reward =
  1[r_φ(s') > m] with m an EMA of the midpoint of the two classes' mean scores (stand-in for the
  paper's running normalisation + quantile threshold).

The **labeller** (the LLM's stand-in) is a function ``oracle(next_obs [*B, D]) -> [*B]`` in
{0, 1} supplied by the caller. It sees each step's ``next_obs`` with probability ``label_prob``
(the subsample), flips the label with probability ``error_rate`` (its mistakes) and the label
arrives ``delay`` env steps later (a FIFO queue in the state: asynchrony). ``beta``,
``label_prob``, ``error_rate`` and ``count_exponent`` are the vmappable params (:class:`ONIParams`);
``model``, ``delay`` and the sizes are static (constructor).

Kept / dropped at small scale: the three model families, asynchronous delayed labels on a
subsample, the count term and the mixing are kept; the LLM is an oracle with a controllable
error rate, the message string is the observation, the char-CNN is a small MLP, and the paper's
"start training after 25k labels" is replaced by training from the first label.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
MODELS = ("hashing", "classifier", "ranking")


class ONIParams(NamedTuple):
    """Vmappable conditions (each ``[]``).

    beta: scale β of the intrinsic reward added to the env reward.
    label_prob: probability p that a step's observation is sent to the labeller.
    error_rate: probability ε that a delivered label is flipped.
    count_exponent: α of the per-episode count term N^(−α) (0: no count term).
    seed: int, the run's seed of the labeller's randomness and the network init (vmap it over
      seeds so runs differ).
    """

    beta: Array = 0.1
    label_prob: Array = 1.0
    error_rate: Array = 0.0
    count_exponent: Array = 3.0
    seed: Array = 0


class ONIState(NamedTuple):
    """The transform's learned state (``N`` envs, ``D`` obs dim, ``K`` = delay, ``M`` buffer,
    ``H`` = 2^hash_bits buckets).

    queue_obs ``[K, N, D]``, queue_label ``[K, N]``, queue_mask ``[K, N]``: labels in flight.
    table_sum, table_count ``[H]``: delivered labels per bucket (hashing; kept for all models).
    buf_obs ``[M, D]``, buf_label ``[M]``, buf_size ``[]``, buf_next ``[]``: the label buffer.
    net, opt: the classifier / ranking network params and Adam state.
    midpoint ``[]``: ranking threshold m.  episode_count ``[N, H]``: per-episode bucket counts.
    t ``[]``: env steps seen.  n_sent, n_delivered, n_flipped ``[]``: labeller statistics.
    key: PRNG key.
    """

    queue_obs: Array
    queue_label: Array
    queue_mask: Array
    table_sum: Array
    table_count: Array
    buf_obs: Array
    buf_label: Array
    buf_size: Array
    buf_next: Array
    net: Any
    opt: Any
    midpoint: Array
    episode_count: Array
    t: Array
    n_sent: Array
    n_delivered: Array
    n_flipped: Array
    key: Array


class _MLP(nn.Module):
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
        return nn.Dense(1)(x)[..., 0]


def simhash(proj: Array, obs: Array) -> Array:
    """SimHash bucket ``[*B]`` int32 of ``obs [*B, D]`` under ``proj [bits, D]``: the integer
    whose bits are ``sign(proj @ obs) > 0``."""
    bits = (obs @ proj.T > 0).astype(jnp.int32)
    return jnp.sum(bits << jnp.arange(proj.shape[0], dtype=jnp.int32), axis=-1)


def oni(
    oracle,
    obs_dim: int,
    num_envs: int,
    model: str = "hashing",
    *,
    delay: int = 0,
    hash_bits: int = 12,
    buffer_size: int = 1024,
    batch_size: int = 64,
    hidden: tuple[int, ...] = (32,),
    learning_rate: float = 3e-3,
    midpoint_decay: float = 0.99,
    seed: int = 0,
    params: ONIParams | None = None,
) -> RewardTransform:
    """The ONI reward transform (see the module docstring).

    Args:
      oracle: ``next_obs [*B, D] -> [*B]`` labels in {0, 1} (the labeller, before its errors).
      obs_dim: D.  num_envs: N, the batch of every ``apply`` (vector-env width).
      model: ``"hashing"``, ``"classifier"`` or ``"ranking"``.
      delay: K, env steps between a label request and its arrival (0: same step, before the
        reward is computed).
      hash_bits: SimHash bits (2^bits buckets) for the hashing model and the count term.
      buffer_size, batch_size: label buffer M and SGD minibatch (classifier / ranking).
      hidden, learning_rate: the network and its Adam step size.
      midpoint_decay: EMA decay of the ranking threshold m.
      seed: PRNG seed of the hash projection (fixed, not learned) and the init.
      params: default :class:`ONIParams` (``None``: ``ONIParams()``).

    Returns:
      A :class:`RewardTransform` with ``apply(params, state, tr) -> (r_env + β·bonus [N], state)``.
    """
    if model not in MODELS:
        raise ValueError(f"oni: model={model!r}; expected one of {MODELS}")
    for name, v in (("obs_dim", obs_dim), ("num_envs", num_envs), ("hash_bits", hash_bits),
                    ("buffer_size", buffer_size), ("batch_size", batch_size)):  # fmt: skip
        if int(v) < 1:
            raise ValueError(f"oni: {name}={v}; must be >= 1")
    if delay < 0:
        raise ValueError(f"oni: delay={delay}; must be >= 0")
    if hash_bits > 20:
        raise ValueError(f"oni: hash_bits={hash_bits}; must be <= 20 (table of 2^bits)")
    N, D, H, M, K = int(num_envs), int(obs_dim), 2**hash_bits, int(buffer_size), int(delay)
    k_proj, _ = jax.random.split(jax.random.key(seed))
    proj = jax.random.normal(k_proj, (hash_bits, D))  # fixed across runs (the "message" map)
    net = _MLP(tuple(hidden))
    tx = optax.adam(learning_rate)

    def init(p):
        k_net, k_run = jax.random.split(jax.random.fold_in(jax.random.key(seed), p.seed))
        w = net.init(k_net, jnp.zeros((1, D)))
        f = jnp.zeros((), jnp.float32)
        return ONIState(
            jnp.zeros((K, N, D)), jnp.zeros((K, N)), jnp.zeros((K, N), bool),
            jnp.zeros(H), jnp.zeros(H), jnp.zeros((M, D)), jnp.zeros(M),
            jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), w, tx.init(w), f,
            jnp.zeros((N, H), jnp.int32), jnp.zeros((), jnp.int32), f, f, f,
            jax.random.key_data(k_run),
        )  # fmt: skip

    def loss(w, x, y, pair):
        s = net.apply(w, x)  # [B]
        if model == "classifier":  # BCE on p(positive) = σ(s)
            return jnp.mean(optax.sigmoid_binary_cross_entropy(s, y)), s
        # Bradley-Terry with soft labels on pairs (x_i, x_j): target 1 / 0 / tie 1/2 (Motif)
        target = 0.5 + 0.5 * (y - y[pair])
        return jnp.mean(optax.sigmoid_binary_cross_entropy(s - s[pair], target)), s

    def train(state, key):
        k_idx, k_pair = jax.random.split(key)
        size = jnp.maximum(state.buf_size, 1)
        idx = jax.random.randint(k_idx, (batch_size,), 0, size)
        x, y = state.buf_obs[idx], state.buf_label[idx]
        pair = jax.random.permutation(k_pair, batch_size)
        (_, s), g = jax.value_and_grad(loss, has_aux=True)(state.net, x, y, pair)
        upd, opt = tx.update(g, state.opt, state.net)
        w = optax.apply_updates(state.net, upd)
        # ranking threshold: midpoint of the two classes' mean scores on this batch (EMA)
        pos = jnp.sum(s * y) / jnp.maximum(jnp.sum(y), 1.0)
        neg = jnp.sum(s * (1 - y)) / jnp.maximum(jnp.sum(1 - y), 1.0)
        both = (jnp.sum(y) > 0) & (jnp.sum(1 - y) > 0)
        ema = midpoint_decay * state.midpoint + (1 - midpoint_decay) * (pos + neg) / 2
        mid = jnp.where(both, ema, state.midpoint)
        trained = state.buf_size > 0
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(trained, a, b), new, old)
        return state._replace(net=keep(w, state.net), opt=keep(opt, state.opt),
                              midpoint=keep(mid, state.midpoint))  # fmt: skip

    def deliver(state, obs, label, mask):
        """Store arriving labels ``[N]`` (mask: which exist) in the table and the buffer."""
        b = simhash(proj, obs)
        m = mask.astype(jnp.float32)
        table_sum = state.table_sum.at[b].add(label * m)
        table_count = state.table_count.at[b].add(m)
        # ring buffer: the masked rows go to consecutive slots after buf_next
        rank = jnp.cumsum(mask) - 1
        slot = jnp.where(mask, (state.buf_next + rank) % M, M)  # M: dropped (out of range)
        buf_obs = state.buf_obs.at[slot].set(obs, mode="drop")
        buf_label = state.buf_label.at[slot].set(label, mode="drop")
        n = jnp.sum(mask).astype(jnp.int32)
        return state._replace(
            table_sum=table_sum, table_count=table_count, buf_obs=buf_obs, buf_label=buf_label,
            buf_size=jnp.minimum(state.buf_size + n, M), buf_next=(state.buf_next + n) % M,
            n_delivered=state.n_delivered + jnp.sum(m),
        )  # fmt: skip

    def apply(p, state, tr: Transition):
        obs = jnp.asarray(tr.next_obs, jnp.float32).reshape(N, D)
        key = jax.random.wrap_key_data(state.key)
        key, k_send, k_flip, k_train = jax.random.split(key, 4)
        # the labeller: a subsample (p) of this step's observations, labels flipped with rate ε
        send = jax.random.uniform(k_send, (N,)) < p.label_prob
        flip = jax.random.uniform(k_flip, (N,)) < p.error_rate
        truth = jnp.asarray(oracle(obs), jnp.float32).reshape(N)
        label = jnp.where(flip, 1.0 - truth, truth)
        state = state._replace(
            n_sent=state.n_sent + jnp.sum(send),
            n_flipped=state.n_flipped + jnp.sum(send & flip),
        )
        if K == 0:
            state = deliver(state, obs, label, send)
        else:  # FIFO of K steps: slot t mod K holds the labels requested K steps ago
            i = state.t % K
            state = deliver(state, state.queue_obs[i], state.queue_label[i], state.queue_mask[i])
            state = state._replace(
                queue_obs=state.queue_obs.at[i].set(obs),
                queue_label=state.queue_label.at[i].set(label),
                queue_mask=state.queue_mask.at[i].set(send),
            )
        if model != "hashing":
            state = train(state, k_train)
        b = simhash(proj, obs)
        if model == "hashing":  # stored label of the bucket; unlabelled buckets pay 0
            stored = state.table_sum[b] / jnp.maximum(state.table_count[b], 1.0)
            r_int = (stored > 0.5).astype(jnp.float32)
        elif model == "classifier":
            r_int = (net.apply(state.net, obs) > 0.0).astype(jnp.float32)  # p > 1/2
        else:
            r_int = (net.apply(state.net, obs) > state.midpoint).astype(jnp.float32)
        # per-episode count N(s') of the bucket, including this visit; reset at episode ends
        rows = jnp.arange(N)
        counts = state.episode_count.at[rows, b].add(1)
        n_visit = counts[rows, b].astype(jnp.float32)
        done = (jnp.asarray(tr.terminated) | jnp.asarray(tr.truncated)).reshape(N)
        counts = jnp.where(done[:, None], 0, counts)
        bonus = r_int * n_visit ** (-p.count_exponent)
        reward = jnp.asarray(tr.reward, jnp.float32) + p.beta * bonus.reshape(jnp.shape(tr.reward))
        state = state._replace(episode_count=counts, t=state.t + 1, key=jax.random.key_data(key))
        return reward, state

    return RewardTransform(init, apply, ONIParams() if params is None else params)


def model_reward(
    transform_model: str,
    state: ONIState,
    obs: Array,
    *,
    hash_bits: int = 12,
    obs_dim: int | None = None,
    hidden: tuple[int, ...] = (32,),
    seed: int = 0,
):
    """The reward model's r_int ``[*B]`` in {0, 1} for ``obs [*B, D]`` under ``state`` (no count
    term; for tests and diagnostics). The static arguments must match the transform's."""
    D = obs.shape[-1] if obs_dim is None else obs_dim
    k_proj, _ = jax.random.split(jax.random.key(seed))
    proj = jax.random.normal(k_proj, (hash_bits, D))
    if transform_model == "hashing":
        b = simhash(proj, obs)
        return (state.table_sum[b] / jnp.maximum(state.table_count[b], 1.0) > 0.5).astype(
            jnp.float32
        )
    s = _MLP(tuple(hidden)).apply(state.net, obs)
    thr = 0.0 if transform_model == "classifier" else state.midpoint
    return (s > thr).astype(jnp.float32)
