"""The on-device agent: runs LoadGen scenarios on a model and reports a measured window.

Copied alone to the device; imports nothing from director, power, devices or tui, and runs on
Python 3.8 (JetPack 5).
"""

__version__ = "0.1.0"
