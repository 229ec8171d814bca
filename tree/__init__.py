"""Pure algorithms and formats of the log: RFC 6962/9162 Merkle trees and the C2SP formats.

Nothing in this package does I/O, reads the clock, draws randomness, logs, or imports anything
beyond the standard library, ``cryptography`` and ``blake3`` (``tests/tree/test_purity.py``).
"""
