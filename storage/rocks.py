"""RocksDB's table options and the translation of its failures, for every database of a server
and the SST files a restore builds (storage/db.py, storage/restore.py).

The options keep memory flat as a log grows: every block read lives in one bounded cache,
index and filter blocks included (rocksdict's default keeps them beside it, where they grow
with the data).
"""

from __future__ import annotations

from typing import Final

from rocksdict import (
    BlockBasedIndexType,
    BlockBasedOptions,
    Cache,
    ColumnFamily,
    Options,
    Rdict,
    ReadOptions,
)

from auditlog_tlog.tree.errors import CorruptionError, DiskFullError, StorageError

# Every block RocksDB reads (data, index and bloom filter blocks alike) lives in this cache, so
# the server's memory stays flat as the log grows (docs/speed.md).
BLOCK_CACHE_BYTES: Final = 8 * 1024 * 1024
BLOOM_BITS_PER_KEY: Final = 10
# The memtable's bloom filter (storage/db.py), as a share of its 64 MiB: 1.3 MiB, ~30 bits for
# each of the ~350,000 keys (entries, leaf hashes, index rows) a full memtable holds.
MEMTABLE_BLOOM_RATIO: Final = 0.02
# The memtable of the strata's column family (storage/db.py). A batch rewrites its unfinished
# strata, so most of what it holds is replaced before a flush; kept small, so that memory
# stays flat (the other column family's is RocksDB's default, 64 MiB).
STRATA_BUFFER_BYTES: Final = 8 * 1024 * 1024


def translate(exc: Exception, what: str) -> StorageError:
    """The auditlog exception for a RocksDB failure while doing ``what``.

    rocksdict raises ``Exception`` carrying RocksDB's status text, so this is the one place
    that reads message text: RocksDB's status kind "Corruption", a missing file (ENOENT: a
    file RocksDB's MANIFEST lists is gone) and ENOSPC's wording.
    """
    text = str(exc)
    if "Corruption" in text or "checksum mismatch" in text or "No such file" in text:
        return CorruptionError(f"{what}: the database is damaged: {text}")
    if "No space left on device" in text:
        return DiskFullError(f"{what}: the file system is full: {text}")
    return StorageError(f"{what}: {text}")


def strata_options(cache: Cache) -> Options:
    """The options of the strata's column family (storage/db.py)."""
    options = Options(raw_mode=True)
    options.set_block_based_table_factory(strata_table_options(cache))
    options.set_write_buffer_size(STRATA_BUFFER_BYTES)
    return options


def column_family(db: Rdict, name: str, fill_cache: bool = True) -> tuple[Rdict, ColumnFamily]:
    """A column family of ``db`` to read from (checksums verified; with ``fill_cache`` off,
    its reads leave the block cache as it is), and to name in a WriteBatch. Both keep ``db``
    open while they live."""
    family = db.get_column_family(name)
    read = ReadOptions()
    read.set_verify_checksums(True)
    # rocksdict's stub says fill_cache() takes no argument; it takes the bool (tested).
    read.fill_cache(fill_cache)  # type: ignore[call-arg]
    family.set_read_options(read)
    return family, db.get_column_family_handle(name)


def strata_table_options(cache: Cache) -> BlockBasedOptions:
    """The strata's column family (storage/db.py): data blocks in the block cache; each SST
    file's index (one binary-searched block, not partitioned) held beside it, in memory, and
    no bloom filters. Every read of a stratum is for one that is there, and as their keys only
    grow each file holds its own key range: RocksDB finds the one file by its key range and
    the block by that file's index without looking anything up in the cache. That index is
    ~28 bytes a stratum of 256 entries (1.1 MB at 10^7 entries): paired at 10^7, proofs 5-8 %
    faster than with partitioned indexes in the cache (docs/proof-reads.md)."""
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    return table


def table_options(cache: Cache | None) -> BlockBasedOptions:
    """Index and filter blocks in the block cache, not beside it (where they grow with the
    data); partitioned, with the small top level and level 0's blocks pinned, so that a
    lookup never loads a whole file's index; whole-key bloom filters, since most
    leaf-hash lookups (dedup) are for hashes the log has never seen. The SST files of a
    restore (``storage.restore.write_sst``) are built with the same (``cache`` None)."""
    table = BlockBasedOptions()
    if cache is not None:
        table.set_block_cache(cache)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    table.set_index_type(BlockBasedIndexType.two_level_index_search())
    table.set_partition_filters(True)
    table.set_pin_top_level_index_and_filter(True)
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
    return table

