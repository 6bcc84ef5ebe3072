"""IQL (Tan 1993; PyMARL's recurrent version): each agent learns its own Q from the team reward."""
from algorithms.registry import register
from algorithms.value.q_learning import ValueBased


@register
class IQL(ValueBased):
    """Independent Q-learners sharing one recurrent network; no mixer."""

    name = "iql"
