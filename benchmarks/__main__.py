"""`python -m benchmarks [--quick] [--out PATH]`: see `benchmarks.run`."""

import sys

from benchmarks.run import main

sys.exit(main())
