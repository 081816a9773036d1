"""Plumbing every layer shares: atomic file writes (``atomic_file``) and typed config load/save (``config``).

Bottom layer: the standard library, numpy, yaml and omegaconf only; never sim, policies, calibration or
so101_deploy.
"""
