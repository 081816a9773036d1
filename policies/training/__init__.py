"""What every training algorithm shares: run directory and its lock, device, stop signals, checkpoint files,
config checks, the seeded evaluator (its videos are written by ``sim.video``) and metrics. Algorithms live in
policies/algos/ and use these."""
