"""Agents: each exposes ``make_train(static, env, transform) -> train(key, hparams)``."""
