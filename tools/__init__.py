"""Generators of committed files (``python -m tools.<name>``); each has a test that fails when
the committed file is not what the generator gives: ``config_reference`` writes
docs/configuration.md, ``event_vectors`` writes docs/vectors/audit-event.json."""
