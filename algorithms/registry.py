"""Algorithm registry: name → class. Suites are validated against it before anything runs."""
from __future__ import annotations

from algorithms.base import Algorithm, AlgorithmConfig

_ALGORITHMS: dict[str, type[Algorithm]] = {}


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Class decorator adding an algorithm under ``cls.name``."""
    _ALGORITHMS[cls.name] = cls
    return cls


def _load() -> None:
    import algorithms.value.iql  # noqa: F401
    import algorithms.value.vdn  # noqa: F401
    import algorithms.value.qmix  # noqa: F401
    import algorithms.value.qplex  # noqa: F401
    import algorithms.value.qtran  # noqa: F401
    import algorithms.value.weighted_qmix  # noqa: F401
    import algorithms.value.attention  # noqa: F401
    import algorithms.value.refil  # noqa: F401
    import algorithms.value.opt  # noqa: F401
    import algorithms.actor_critic.mappo  # noqa: F401
    import algorithms.continuous.maddpg  # noqa: F401


def available() -> list[str]:
    """All algorithm names, sorted."""
    _load()
    return sorted(_ALGORITHMS)


def get(name: str) -> type[Algorithm]:
    """The class for ``name``; an unknown name lists the valid ones."""
    _load()
    if name not in _ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; available: {', '.join(sorted(_ALGORITHMS))}")
    return _ALGORITHMS[name]


def config_class(name: str) -> type[AlgorithmConfig]:
    return get(name).config_cls
