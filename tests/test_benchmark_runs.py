"""The slow learning benchmarks' runner (``benchmarks/learning_curves.run_suite``) records its runs'
provenance in the manifest, as ``harness run`` does, so a report built from them says where its
numbers came from."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from learning_curves import run_suite  # noqa: E402

SUITE = """
name: tiny-benchmark
backend: combat
device: cpu
seeds: 1
budget: {env_steps: 64}
training: {n_envs: 8}
evaluation: {interval: 32, episodes: 8}
algorithms: [iql]
scenarios:
  - name: mipi_matrix
    train: {teams: [[A, B], [B, A]]}
"""


class Benchmark:
    """pytest-benchmark's ``pedantic``, run once."""

    def pedantic(self, fn, rounds: int, iterations: int):
        return fn()


def test_run_suite_writes_the_provenance_into_the_manifest(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    specs, frame = run_suite(path, tmp_path / "runs", Benchmark(), workers=1)
    assert len(specs) == 1 and not frame.empty
    provenance = json.loads((tmp_path / "runs" / "manifest.json").read_text())["provenance"]
    assert {"git_commit", "python", "version.torch", "device"} <= set(provenance), provenance
