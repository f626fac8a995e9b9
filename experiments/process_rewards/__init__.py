"""Process rewards and multi-turn credit (issue 20): see :mod:`.experiment`."""
