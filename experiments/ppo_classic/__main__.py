"""``python -m experiments.ppo_classic --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.ppo_classic import main

if __name__ == "__main__":
    main(sys.argv[1:])
