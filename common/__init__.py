"""Small I/O helpers shared by the server, the witness and the client.

``tree`` is pure and the witness may not import ``server`` or ``storage``; what all three
processes need from the file system and the network lives here instead, once.
"""
