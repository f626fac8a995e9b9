"""Numerical checks of reward-shaping theorems; see :mod:`theory_checks.harness`.

Run ``python -m theory_checks`` for the report, or ``pytest theory_checks``.
"""
