"""``python -m experiments.orpo_tomato --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.orpo_tomato import main

if __name__ == "__main__":
    main(sys.argv[1:])
