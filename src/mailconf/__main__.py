"""``python -m mailconf`` is the ``mailconf`` command."""

import sys

from mailconf.cli import main

sys.exit(main())
