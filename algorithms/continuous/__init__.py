"""Algorithms for continuous (and relaxed discrete) actions with deterministic policies (MADDPG, ...)."""
