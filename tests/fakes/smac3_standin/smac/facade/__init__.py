"""SMAC3-shaped facade module (tests only)."""


class HyperparameterOptimizationFacade:
    """SMAC3's entry point for hyperparameter optimisation, reduced to its constructor."""

    def __init__(self, scenario, target_function):
        self.scenario = scenario
        self.target_function = target_function
