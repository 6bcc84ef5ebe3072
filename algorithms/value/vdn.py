"""VDN (Sunehag et al. 2018): Q_tot is the sum of the agents' utilities."""
from algorithms.components.mixers import VDNMixer
from algorithms.registry import register
from algorithms.value.q_learning import ValueBased


@register
class VDN(ValueBased):
    """Additive value decomposition trained end to end on the team TD error."""

    name = "vdn"

    def build_mixer(self, info, config):
        return VDNMixer()
