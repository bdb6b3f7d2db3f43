"""`python -m bench` (make bench), `python -m bench --large` (make bench-large), `--smoke`."""

from __future__ import annotations

import sys

from bench.run import main

sys.exit(main())
