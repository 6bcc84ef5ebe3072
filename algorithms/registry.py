"""Algorithm registry: name → class. Suites are validated against it before anything runs.

Built-ins register with :func:`register` at import; plug-ins are ``marl_harness.algorithms`` entry
points naming an :class:`Algorithm` subclass (:mod:`harness.plugins`), loaded on first use.
"""
from __future__ import annotations

import inspect

from algorithms.base import Algorithm, AlgorithmConfig, Capabilities
from harness.plugins import ALGORITHMS_GROUP, PluginGroup

_ALGORITHMS: dict[str, type[Algorithm]] = {}
_PLUGINS = PluginGroup(ALGORITHMS_GROUP, "algorithm")


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Class decorator adding an algorithm under ``cls.name``; a name is registered once."""
    if _ALGORITHMS.get(cls.name, cls) is not cls:
        raise ValueError(f"algorithm {cls.name!r} registered twice")
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
    import algorithms.value.mipi  # noqa: F401
    import algorithms.value.collaq  # noqa: F401
    import algorithms.actor_critic.mappo  # noqa: F401
    import algorithms.actor_critic.attention_mappo  # noqa: F401
    import algorithms.continuous.maddpg  # noqa: F401
    _PLUGINS.load(_ALGORITHMS, plugin_problem)


def plugin_problem(name: str, obj: object) -> str | None:
    """Why ``obj`` (an entry point ``name`` loaded) is no algorithm the runner can use, or None."""
    if not (isinstance(obj, type) and issubclass(obj, Algorithm)):
        return f"it must point at a subclass of algorithms.base.Algorithm, not {obj!r}"
    if getattr(obj, "name", None) != name:
        return (f"its class {obj.__qualname__} has name {getattr(obj, 'name', None)!r}; the entry point's "
                f"name must be the algorithm's name")
    config_cls = getattr(obj, "config_cls", None)
    if not (isinstance(config_cls, type) and issubclass(config_cls, AlgorithmConfig)):
        return f"{obj.__qualname__}.config_cls must be a subclass of algorithms.base.AlgorithmConfig"
    if not isinstance(obj.capabilities, Capabilities):
        return f"{obj.__qualname__}.capabilities must be an algorithms.base.Capabilities"
    if inspect.isabstract(obj):
        return f"{obj.__qualname__} leaves {', '.join(sorted(obj.__abstractmethods__))} unimplemented"
    return None


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
