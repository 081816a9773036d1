"""What every training algorithm shares: run directory and its lock, device, stop signals, checkpoint files,
config checks, the seeded evaluator, metrics and videos. Algorithms live in policies/algos/ and use these."""
