"""Fault cases for benchmarks/fault_matrix.py, one module per area (run, train, inputs)."""
