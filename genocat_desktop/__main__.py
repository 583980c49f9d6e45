"""``python -m genocat_desktop`` runs the ``genocat`` command."""

import sys

from .cli import main

sys.exit(main())
