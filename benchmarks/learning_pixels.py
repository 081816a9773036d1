"""Learning check (b): pixel DrQ-v2 with the `drqv2_cpu` preset (about an hour on 2 cores).

    python benchmarks/learning_pixels.py [key=value ...]

Trains the `drqv2_cpu` preset, writes docs/learning_pixels.png (success rate vs env frames) and prints one JSON line.
"""

from learning_run import main

if __name__ == "__main__":
    main("drqv2_cpu", "docs/learning_pixels.png", "pixel DrQ-v2, preset drqv2_cpu (2 CPU cores)")
