"""``python -m experiments.rlhf_shaping --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.rlhf_shaping import main

if __name__ == "__main__":
    main(sys.argv[1:])
