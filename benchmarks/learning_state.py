"""Learning check (a): state-based DrQ-v2 (obs=state, MLP on low-dim + privileged state), lift stage 3, CPU.

    python benchmarks/learning_state.py [key=value ...]

Trains the `state` preset, writes docs/learning_state.png (success rate vs env frames) and prints one JSON
line. Goal: >= 90% success.
"""

from learning_run import main

if __name__ == "__main__":
    main("state", "docs/learning_state.png", "state-based DrQ-v2, lift stage 3 (CPU)")
