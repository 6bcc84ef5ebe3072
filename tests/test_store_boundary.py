"""The run store is its own module: the runner writes it; analysis, tracking and reports read it
without importing the runner (data flows one way: runs → store → frame → reports)."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["harness.analysis.frame", "harness.tracking", "harness.reports.build",
                                    "harness.regress", "harness.store"])
def test_readers_of_the_store_do_not_import_the_runner(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('harness.runner')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{module} imports the runner: {out.strip()}"
