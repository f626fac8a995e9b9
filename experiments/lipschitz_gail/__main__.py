"""``python -m experiments.lipschitz_gail --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.lipschitz_gail import main

if __name__ == "__main__":
    main(sys.argv[1:])
