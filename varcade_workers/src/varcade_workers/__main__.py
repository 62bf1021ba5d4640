"""`python -m varcade_workers dead-letters list|replay|purge ...`"""

from __future__ import annotations

import sys

from varcade_workers.dead_letters import main

if __name__ == "__main__":
    sys.exit(main())
