"""The witness: an independent process that cosigns a log's checkpoints and archives them.

It speaks c2sp.org/tlog-witness@v1.0.0 over HTTP (push: a log calls ``add-checkpoint``) and can
also dial out to our log's gRPC API (pull), cosigns with c2sp.org/tlog-cosignature@v1.0.1
(Ed25519, key type 0x04), remembers per origin the last checkpoint it cosigned in a durable
compare-and-swap store, and archives every cosigned checkpoint, and the evidence of every fork it
is shown, in write-once storage (S3 Object Lock in COMPLIANCE mode, or a local directory).

Modules: ``core`` (the checks of tlog-witness §"add-checkpoint"), ``httpd`` (the HTTP(S)
server), ``pull`` (gRPC polling), ``tls`` (TLS, mutual TLS, tokens and the loopback rule),
``state`` (the compare-and-swap store), ``archive`` and ``s3archive`` (write-once storage),
``status`` (exception -> HTTP code), ``config``, ``keys`` (key files and rotation) and ``app``.
A witness trusts nothing but signatures and proofs: it imports ``tree`` and never ``storage``
or ``server``.
"""
