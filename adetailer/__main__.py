from adetailer.cli import main

raise SystemExit(main())
