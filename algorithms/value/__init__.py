"""Value-based algorithms: agent utilities trained by TD learning, optionally through a mixer (IQL, VDN, QMIX)."""
