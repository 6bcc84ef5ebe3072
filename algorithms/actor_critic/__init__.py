"""Actor-critic algorithms: policies trained with a learned critic (MAPPO, ...)."""
