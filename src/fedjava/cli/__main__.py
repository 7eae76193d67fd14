"""``python -m fedjava.cli``: the ``fedjava`` command."""

import sys

from fedjava.cli import main

sys.exit(main())
