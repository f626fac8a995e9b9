"""Learned reward models from preferences (issue 18): see :mod:`.experiment`."""
