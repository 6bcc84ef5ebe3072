"""Provenance of results: code version, library versions and the device that produced them."""
from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("torch", "numpy", "pandas", "scipy", "mlflow", "pydantic", "seaborn", "marl-harness")


def resolve_device(device: str) -> torch.device:
    """``auto`` → the first CUDA device if there is one, else CPU; an unavailable CUDA request errors."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available; use device: auto or cpu")
    return dev


def git_state(root: Path | None = None) -> tuple[str, bool]:
    """(commit, dirty) of the repository holding this package; ("unknown", False) outside git."""
    for cwd in ([root] if root else [Path(__file__).resolve().parent.parent, Path.cwd()]):
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                    timeout=10, check=True).stdout.strip()
            dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                        capture_output=True, text=True, timeout=10).stdout.strip())
            return commit, dirty
        except (OSError, subprocess.SubprocessError):
            continue
    return "unknown", False


def device_description(device: torch.device) -> dict[str, str]:
    """Device name and, on CUDA, the driver and CUDA versions (results may depend on them)."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        driver = "unknown"
        try:
            driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
        return {"device": str(device), "device_name": props.name, "cuda": str(torch.version.cuda),
                "cuda_driver": driver}
    return {"device": "cpu", "device_name": platform.processor() or platform.machine()}


def collect(device: torch.device | None = None) -> dict[str, str]:
    """Everything a reader needs to know where a number came from (flat string dict, MLflow-tag ready)."""
    commit, dirty = git_state()
    info = {"git_commit": commit, "git_dirty": str(dirty), "python": sys.version.split()[0],
            "platform": platform.platform(), "collected_at": datetime.now(timezone.utc).isoformat()}
    for pkg in PACKAGES:
        try:
            info[f"version.{pkg}"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    info |= device_description(device or resolve_device("auto"))
    return info
