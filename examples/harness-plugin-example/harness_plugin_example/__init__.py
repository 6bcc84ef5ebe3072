"""Example MARL harness plug-in: the ``vdn_huber`` algorithm and the ``penalty_k20`` scenario.

Nothing is registered on import: the harness loads the entry points of ``pyproject.toml`` itself.
"""
