"""``python -m infra.cli``: the ``headwater`` command."""

import sys

from infra.cli.main import main

sys.exit(main())
