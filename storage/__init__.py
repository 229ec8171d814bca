"""The only code that touches RocksDB (through rocksdict). It speaks bytes and dataclasses."""
