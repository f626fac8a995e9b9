"""The paper's experiments, one package each, run from the repository root as
``python -m experiments.<name> --profile quick``.

Each package exports ``main(argv) -> runs`` and its ``PRESETS``; its results go to
``results/<name>/`` and ``paper_figures/<name>.py`` draws them. ``experiments`` is the top layer:
it imports ``jaxrl`` (up to ``jaxrl.experiment``), never the reverse, and one experiment package
never imports another (``tests/test_architecture.py``).
"""
