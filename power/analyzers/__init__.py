"""Instrument drivers, one module per family; importing this package registers them all."""

from power.analyzers import ptdaemon  # noqa: F401,E402  (registers "ptdaemon")
from power.analyzers import yokogawa  # noqa: F401,E402  (registers the WT310/WT310E/WT33xE/WT210 models)
