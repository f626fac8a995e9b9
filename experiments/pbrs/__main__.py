"""``python -m experiments.pbrs --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.pbrs import main

if __name__ == "__main__":
    main(sys.argv[1:])
