"""Shared test settings: one torch thread per test process keeps timings stable on 2 cores."""
import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)
