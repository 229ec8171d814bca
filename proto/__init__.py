"""The auditlog gRPC API: ``auditlog.proto`` and the Python code generated from it.

The generated modules are committed; ``make proto`` regenerates them and ``make proto-check``
(part of ``make test``) fails when they are not exactly what the .proto gives.
"""
