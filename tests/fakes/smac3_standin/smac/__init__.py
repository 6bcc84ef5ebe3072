"""Stand-in for SMAC3, the AutoML optimiser whose module is also named ``smac`` (tests only)."""
from smac.facade import HyperparameterOptimizationFacade

__version__ = "2.3.1"
__all__ = ["HyperparameterOptimizationFacade", "Scenario"]


class Scenario:
    """Where SMAC3 keeps an optimisation problem's configuration space and budget."""

    def __init__(self, configspace, deterministic: bool = True, n_trials: int = 100):
        self.configspace = configspace
        self.deterministic = deterministic
        self.n_trials = n_trials
