"""``operando simulate`` with no free-space check and no reserve, so that HDF5 itself meets a full disk and
cannot complete the file (as when another program takes the last bytes, or the disk turns read-only).

Usage (from the repository root): python -m tests.storage.unguarded_simulate PROTOCOL --out FILE
"""

import sys

from operando.cli import main
from operando.storage import SpaceGuard

if __name__ == "__main__":
    SpaceGuard.prepare = lambda self, frame=0: None  # type: ignore[method-assign]
    SpaceGuard.check = lambda self, needed, frame=0: None  # type: ignore[method-assign]
    sys.exit(main(["simulate", *sys.argv[1:]]))
