"""Paper figures: one module per experiment, run as ``python -m paper_figures.<name>``."""
