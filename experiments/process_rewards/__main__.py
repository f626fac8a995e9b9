"""``python -m experiments.process_rewards --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.process_rewards.experiment import main

if __name__ == "__main__":
    main(sys.argv[1:])
