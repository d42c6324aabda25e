"""``python -m nail_jax ...`` is the ``nail-jax`` command (for a venv that is not activated)."""

import sys

from nail_jax.cli import main

sys.exit(main())
