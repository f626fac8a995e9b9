"""``python -m experiments.barfi --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.barfi import main

if __name__ == "__main__":
    main(sys.argv[1:])
