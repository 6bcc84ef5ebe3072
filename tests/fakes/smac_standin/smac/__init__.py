"""Stand-in for the StarCraft Multi-Agent Challenge package (tests only; no StarCraft II)."""
