"""What the policy sees and does (the contract), the training algorithms, and export to ONNX.

``policies.contract`` and ``policies.onnx_policy`` are on the deploy path and import no torch; the training
code (``policies.drqv2``) and the exporter do.
"""
