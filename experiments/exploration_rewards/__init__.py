"""Intrinsic and exploration rewards (issue 19): see :mod:`.experiment`."""
