from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LegalHoldRequest(_message.Message):
    __slots__ = ("log", "begin", "end", "release", "reason", "size")
    LOG_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    log: str
    begin: int
    end: int
    release: bool
    reason: str
    size: int
    def __init__(self, log: _Optional[str] = ..., begin: _Optional[int] = ..., end: _Optional[int] = ..., release: _Optional[bool] = ..., reason: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class LegalHoldResponse(_message.Message):
    __slots__ = ("objects", "size", "index", "leaf_hash")
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    objects: int
    size: int
    index: int
    leaf_hash: bytes
    def __init__(self, objects: _Optional[int] = ..., size: _Optional[int] = ..., index: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ...) -> None: ...

class AppendRequest(_message.Message):
    __slots__ = ("log", "entry", "want_receipt", "addenda")
    LOG_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    WANT_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    ADDENDA_FIELD_NUMBER: _ClassVar[int]
    log: str
    entry: bytes
    want_receipt: bool
    addenda: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, log: _Optional[str] = ..., entry: _Optional[bytes] = ..., want_receipt: _Optional[bool] = ..., addenda: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AppendResult(_message.Message):
    __slots__ = ("index", "leaf_hash", "duplicate", "receipt")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    index: int
    leaf_hash: bytes
    duplicate: bool
    receipt: bytes
    def __init__(self, index: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., duplicate: _Optional[bool] = ..., receipt: _Optional[bytes] = ...) -> None: ...

class AppendResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: AppendResult
    def __init__(self, result: _Optional[_Union[AppendResult, _Mapping]] = ...) -> None: ...

class AppendBatchRequest(_message.Message):
    __slots__ = ("log", "entries", "want_receipt")
    LOG_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    WANT_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    log: str
    entries: _containers.RepeatedScalarFieldContainer[bytes]
    want_receipt: bool
    def __init__(self, log: _Optional[str] = ..., entries: _Optional[_Iterable[bytes]] = ..., want_receipt: _Optional[bool] = ...) -> None: ...

class AppendBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AppendResult]
    def __init__(self, results: _Optional[_Iterable[_Union[AppendResult, _Mapping]]] = ...) -> None: ...

class AppendStreamRequest(_message.Message):
    __slots__ = ("log", "entries", "sequence", "want_receipt")
    LOG_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    WANT_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    log: str
    entries: _containers.RepeatedScalarFieldContainer[bytes]
    sequence: int
    want_receipt: bool
    def __init__(self, log: _Optional[str] = ..., entries: _Optional[_Iterable[bytes]] = ..., sequence: _Optional[int] = ..., want_receipt: _Optional[bool] = ...) -> None: ...

class AppendStreamResponse(_message.Message):
    __slots__ = ("sequence", "results")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    results: _containers.RepeatedCompositeFieldContainer[AppendResult]
    def __init__(self, sequence: _Optional[int] = ..., results: _Optional[_Iterable[_Union[AppendResult, _Mapping]]] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("log", "cosigned", "min_size", "wait_ms", "size")
    LOG_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    log: str
    cosigned: bool
    min_size: int
    wait_ms: int
    size: int
    def __init__(self, log: _Optional[str] = ..., cosigned: _Optional[bool] = ..., min_size: _Optional[int] = ..., wait_ms: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint", "size", "witnesses")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    WITNESSES_FIELD_NUMBER: _ClassVar[int]
    checkpoint: bytes
    size: int
    witnesses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, checkpoint: _Optional[bytes] = ..., size: _Optional[int] = ..., witnesses: _Optional[_Iterable[str]] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("log", "index", "leaf_hash", "tree_size")
    LOG_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    log: str
    index: int
    leaf_hash: bytes
    tree_size: int
    def __init__(self, log: _Optional[str] = ..., index: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., tree_size: _Optional[int] = ...) -> None: ...

class GetInclusionProofResponse(_message.Message):
    __slots__ = ("index", "tree_size", "leaf_hash", "proof", "checkpoint")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    leaf_hash: bytes
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: bytes
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., proof: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[bytes] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("log", "size1", "size2")
    LOG_FIELD_NUMBER: _ClassVar[int]
    SIZE1_FIELD_NUMBER: _ClassVar[int]
    SIZE2_FIELD_NUMBER: _ClassVar[int]
    log: str
    size1: int
    size2: int
    def __init__(self, log: _Optional[str] = ..., size1: _Optional[int] = ..., size2: _Optional[int] = ...) -> None: ...

class GetConsistencyProofResponse(_message.Message):
    __slots__ = ("size1", "size2", "proof")
    SIZE1_FIELD_NUMBER: _ClassVar[int]
    SIZE2_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    size1: int
    size2: int
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, size1: _Optional[int] = ..., size2: _Optional[int] = ..., proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetEntriesRequest(_message.Message):
    __slots__ = ("log", "begin", "end")
    LOG_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    log: str
    begin: int
    end: int
    def __init__(self, log: _Optional[str] = ..., begin: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class GetEntriesResponse(_message.Message):
    __slots__ = ("begin", "entries")
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    begin: int
    entries: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, begin: _Optional[int] = ..., entries: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetLogInfoRequest(_message.Message):
    __slots__ = ("log",)
    LOG_FIELD_NUMBER: _ClassVar[int]
    log: str
    def __init__(self, log: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_entry_bytes", "max_batch_entries", "max_pending_entries", "max_entries_page")
    MAX_ENTRY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_ENTRIES_PAGE_FIELD_NUMBER: _ClassVar[int]
    max_entry_bytes: int
    max_batch_entries: int
    max_pending_entries: int
    max_entries_page: int
    def __init__(self, max_entry_bytes: _Optional[int] = ..., max_batch_entries: _Optional[int] = ..., max_pending_entries: _Optional[int] = ..., max_entries_page: _Optional[int] = ...) -> None: ...

class LogInfo(_message.Message):
    __slots__ = ("origin", "verifier_key", "hash", "size", "dedup", "limits", "witness_keys", "witness_quorum", "keys", "halted", "publication")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DEDUP_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    WITNESS_KEYS_FIELD_NUMBER: _ClassVar[int]
    WITNESS_QUORUM_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    HALTED_FIELD_NUMBER: _ClassVar[int]
    PUBLICATION_FIELD_NUMBER: _ClassVar[int]
    origin: str
    verifier_key: str
    hash: str
    size: int
    dedup: bool
    limits: Limits
    witness_keys: _containers.RepeatedScalarFieldContainer[str]
    witness_quorum: int
    keys: _containers.RepeatedCompositeFieldContainer[KeyInfo]
    halted: str
    publication: Publication
    def __init__(self, origin: _Optional[str] = ..., verifier_key: _Optional[str] = ..., hash: _Optional[str] = ..., size: _Optional[int] = ..., dedup: _Optional[bool] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., witness_keys: _Optional[_Iterable[str]] = ..., witness_quorum: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[KeyInfo, _Mapping]]] = ..., halted: _Optional[str] = ..., publication: _Optional[_Union[Publication, _Mapping]] = ...) -> None: ...

class Publication(_message.Message):
    __slots__ = ("bucket", "prefix", "published_size", "lag_entries", "lag_seconds", "last_published_unix", "acknowledge_after_publication", "failure", "retention_days", "pruned_below", "oldest_retain_until_unix")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_PUBLISHED_UNIX_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGE_AFTER_PUBLICATION_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    PRUNED_BELOW_FIELD_NUMBER: _ClassVar[int]
    OLDEST_RETAIN_UNTIL_UNIX_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    published_size: int
    lag_entries: int
    lag_seconds: float
    last_published_unix: float
    acknowledge_after_publication: bool
    failure: str
    retention_days: int
    pruned_below: int
    oldest_retain_until_unix: float
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., published_size: _Optional[int] = ..., lag_entries: _Optional[int] = ..., lag_seconds: _Optional[float] = ..., last_published_unix: _Optional[float] = ..., acknowledge_after_publication: _Optional[bool] = ..., failure: _Optional[str] = ..., retention_days: _Optional[int] = ..., pruned_below: _Optional[int] = ..., oldest_retain_until_unix: _Optional[float] = ...) -> None: ...

class KeyInfo(_message.Message):
    __slots__ = ("verifier_key", "state", "since", "until")
    VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    verifier_key: str
    state: str
    since: str
    until: str
    def __init__(self, verifier_key: _Optional[str] = ..., state: _Optional[str] = ..., since: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class AddCosignatureRequest(_message.Message):
    __slots__ = ("log", "size", "signatures")
    LOG_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    log: str
    size: int
    signatures: bytes
    def __init__(self, log: _Optional[str] = ..., size: _Optional[int] = ..., signatures: _Optional[bytes] = ...) -> None: ...

class AddCosignatureResponse(_message.Message):
    __slots__ = ("witnesses",)
    WITNESSES_FIELD_NUMBER: _ClassVar[int]
    witnesses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, witnesses: _Optional[_Iterable[str]] = ...) -> None: ...

class ListCheckpointsRequest(_message.Message):
    __slots__ = ("log", "begin_size", "limit")
    LOG_FIELD_NUMBER: _ClassVar[int]
    BEGIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    log: str
    begin_size: int
    limit: int
    def __init__(self, log: _Optional[str] = ..., begin_size: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListCheckpointsResponse(_message.Message):
    __slots__ = ("sizes", "more")
    SIZES_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    sizes: _containers.RepeatedScalarFieldContainer[int]
    more: bool
    def __init__(self, sizes: _Optional[_Iterable[int]] = ..., more: _Optional[bool] = ...) -> None: ...

class ListLogsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListLogsResponse(_message.Message):
    __slots__ = ("logs",)
    LOGS_FIELD_NUMBER: _ClassVar[int]
    logs: _containers.RepeatedCompositeFieldContainer[LogInfo]
    def __init__(self, logs: _Optional[_Iterable[_Union[LogInfo, _Mapping]]] = ...) -> None: ...

class GetAddendumRequest(_message.Message):
    __slots__ = ("log", "digest")
    LOG_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    log: str
    digest: bytes
    def __init__(self, log: _Optional[str] = ..., digest: _Optional[bytes] = ...) -> None: ...

class GetAddendumResponse(_message.Message):
    __slots__ = ("addendum", "index", "erased_by")
    ADDENDUM_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ERASED_BY_FIELD_NUMBER: _ClassVar[int]
    addendum: bytes
    index: int
    erased_by: int
    def __init__(self, addendum: _Optional[bytes] = ..., index: _Optional[int] = ..., erased_by: _Optional[int] = ...) -> None: ...

class EraseRequest(_message.Message):
    __slots__ = ("log", "digests", "index", "why")
    LOG_FIELD_NUMBER: _ClassVar[int]
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    log: str
    digests: _containers.RepeatedScalarFieldContainer[bytes]
    index: int
    why: str
    def __init__(self, log: _Optional[str] = ..., digests: _Optional[_Iterable[bytes]] = ..., index: _Optional[int] = ..., why: _Optional[str] = ...) -> None: ...

class EraseResponse(_message.Message):
    __slots__ = ("erasure", "index", "digests")
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    erasure: AppendResult
    index: int
    digests: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, erasure: _Optional[_Union[AppendResult, _Mapping]] = ..., index: _Optional[int] = ..., digests: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SearchFilter(_message.Message):
    __slots__ = ("field", "pattern")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    field: str
    pattern: str
    def __init__(self, field: _Optional[str] = ..., pattern: _Optional[str] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("log", "filters", "since", "until", "oldest_first", "limit", "cursor", "begin", "end", "indexes_only")
    LOG_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    OLDEST_FIRST_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    INDEXES_ONLY_FIELD_NUMBER: _ClassVar[int]
    log: str
    filters: _containers.RepeatedCompositeFieldContainer[SearchFilter]
    since: str
    until: str
    oldest_first: bool
    limit: int
    cursor: str
    begin: int
    end: int
    indexes_only: bool
    def __init__(self, log: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[SearchFilter, _Mapping]]] = ..., since: _Optional[str] = ..., until: _Optional[str] = ..., oldest_first: _Optional[bool] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ..., begin: _Optional[int] = ..., end: _Optional[int] = ..., indexes_only: _Optional[bool] = ...) -> None: ...

class SearchFields(_message.Message):
    __slots__ = ("actor", "action", "resource", "outcome", "time", "source", "principal", "request_id", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    actor: str
    action: str
    resource: str
    outcome: str
    time: str
    source: str
    principal: str
    request_id: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, actor: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., outcome: _Optional[str] = ..., time: _Optional[str] = ..., source: _Optional[str] = ..., principal: _Optional[str] = ..., request_id: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("index", "entry", "leaf_hash", "proof", "fields", "logged_at_unix_nano")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    LOGGED_AT_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    index: int
    entry: bytes
    leaf_hash: bytes
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    fields: SearchFields
    logged_at_unix_nano: int
    def __init__(self, index: _Optional[int] = ..., entry: _Optional[bytes] = ..., leaf_hash: _Optional[bytes] = ..., proof: _Optional[_Iterable[bytes]] = ..., fields: _Optional[_Union[SearchFields, _Mapping]] = ..., logged_at_unix_nano: _Optional[int] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("checkpoint", "tree_size", "results", "next_cursor", "scanned", "indexed_from")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    INDEXED_FROM_FIELD_NUMBER: _ClassVar[int]
    checkpoint: bytes
    tree_size: int
    results: _containers.RepeatedCompositeFieldContainer[SearchResult]
    next_cursor: str
    scanned: int
    indexed_from: int
    def __init__(self, checkpoint: _Optional[bytes] = ..., tree_size: _Optional[int] = ..., results: _Optional[_Iterable[_Union[SearchResult, _Mapping]]] = ..., next_cursor: _Optional[str] = ..., scanned: _Optional[int] = ..., indexed_from: _Optional[int] = ...) -> None: ...
