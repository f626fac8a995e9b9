"""Malformed inputs and the clear errors they must raise (issue 13); see tests/test_bad_input.py.

Each area module (``trainers``, ``exact``, ``envs``, ``runs``) defines ``CASES: list[Case]``.
"""
