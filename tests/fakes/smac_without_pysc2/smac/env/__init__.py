"""Imports pysc2 as the real ``smac.env`` does; the test hides pysc2 so this import fails."""
import pysc2  # noqa: F401
