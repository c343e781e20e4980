"""``python -m cnnkit`` (and ``torchrun -m cnnkit``) runs the command line."""

import sys

from cnnkit.cli.main import main

sys.exit(main())
