"""``python -m experiments.preference_rms --profile quick`` (``--help`` lists the options)."""

import sys

from experiments.preference_rms.experiment import main

if __name__ == "__main__":
    main(sys.argv[1:])
