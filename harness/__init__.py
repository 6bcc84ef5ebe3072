"""Benchmark and evaluation harness for cooperative multi-agent reinforcement learning."""
__version__ = "0.1.0"
