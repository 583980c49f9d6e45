"""``python -m genocat_desktop`` runs the ``genocat`` command."""

import sys

from genocat_desktop.cli.main import main

sys.exit(main())
