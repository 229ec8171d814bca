"""auditlog: a self-hosted, tamper-evident audit log (RFC 6962 Merkle tree, C2SP checkpoints, witnesses).

Installed, the whole project lives under this one package name: ``auditlog_tlog.tree`` (pure
algorithms and formats), ``.storage`` (RocksDB), ``.server`` (the log server), ``.witness`` (the
independent witness), ``.client`` (SDK and the ``auditlog`` command), ``.proto`` (the gRPC API) and
``.common``. In the repository those folders stay at the top level; the entries of this folder are
links to them, so the code imports them by the installed name from a checkout as well.
"""
