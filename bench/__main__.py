"""``python -m bench``: not written yet (the benchmarks issue builds P1-P4); says so and exits non-zero."""

import sys

print("bench: no benchmarks yet; see the 'Fast and scalable, measured' issue", file=sys.stderr)
sys.exit(1)
