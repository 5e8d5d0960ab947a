"""`python -m benchmarks [--quick] [--out PATH | --write]`: see `benchmarks.run`.

`python -m benchmarks detail [--rounds N]`: the standalone detailer, see `benchmarks.detail`.
"""

import sys

if sys.argv[1:2] == ["detail"]:
    from benchmarks.detail import main as detail_main

    sys.exit(detail_main(sys.argv[2:]))

from benchmarks.run import main

sys.exit(main())
