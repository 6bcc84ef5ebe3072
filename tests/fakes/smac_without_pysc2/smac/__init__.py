"""Stand-in for an SMAC install whose dependency pysc2 is missing (tests only)."""
