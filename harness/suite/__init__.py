"""Declarative suites: load and validate a suite file, expand it into runs, describe its format.

``load_suite`` and ``suite_hash`` are imported on first use, so that ``python -m
harness.suite.loader`` runs the loader module without importing it twice.
"""
from harness.suite.errors import SuiteError
from harness.suite.expand import expand, format_runs
from harness.suite.models import (
    AlgorithmEntry, Budget, Composition, Evaluation, Reference, ReportTable, ScenarioEntry, Suite, Training,
)
from harness.suite.schema import suite_schema

__all__ = [
    "load_suite", "expand", "format_runs", "suite_hash", "suite_schema", "SuiteError",
    "Suite", "Composition", "Budget", "Training", "Evaluation", "AlgorithmEntry", "ScenarioEntry",
    "ReportTable", "Reference",
]


def __getattr__(name: str):
    if name in ("load_suite", "suite_hash"):
        from harness.suite import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'harness.suite' has no attribute {name!r}")
