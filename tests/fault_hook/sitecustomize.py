"""Python runs this at start when this folder is on PYTHONPATH: with FEDJAVA_FAULTS set, the process injects those
faults (tests/fault_injection.py). It is how the tests reach the processes they start: a ``python -m fedjava.cli``
run, the simulation's Ray workers, a SuperNode's ClientApp. Nothing of it is in fedjava itself."""

import os

if os.environ.get("FEDJAVA_FAULTS"):
    import sys
    from pathlib import Path

    sys.path.append(str(Path(__file__).resolve().parents[1]))
    import fault_injection

    fault_injection.install()
