"""DrQ-v2 (Yarats et al., 2021) for the SO-101 lift: networks, agent, replay, trainer, evaluation."""
