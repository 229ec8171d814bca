"""``auditlog audit``, the command: its options, which audit runs (the whole log, or an index
range given by ``--since``/``--until``), and the report (the audits themselves:
``client.audit.Auditor`` and ``client.range_audit.RangeAuditor``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditlog_tlog.client.audit import Auditor
from auditlog_tlog.client.context import Context, UsageError
from auditlog_tlog.client.findings import format_report
from auditlog_tlog.client.index_audit import IndexCheck
from auditlog_tlog.client.progress import progress_for
from auditlog_tlog.client.range_audit import RangeAuditor
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.search import add_time_range, index_range, spec_of_times


def add_audit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", type=Path, help="a local witness archive to check against "
                   "(default: archive_dir of the client config)")
    p.add_argument("--no-archive", action="store_true", help="ignore any configured archive")
    p.add_argument("--archive-witness", help="the witness whose archive it is (default: the one "
                   "trusted witness, or the cosigner every archived object names)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--max-checkpoints", type=int, default=10_000, metavar="N",
                   help="check at most N of the log's stored checkpoints, evenly spread "
                   "(default 10000)")
    p.add_argument("--no-index", action="store_true", help="do not rebuild and check the "
                   "search index (docs/search.md)")
    add_time_range(p)


def cmd_audit(ctx: Context) -> int:
    a = ctx.args
    archive_dir = None if a.no_archive else (a.archive or ctx.settings.archive_dir)
    progress = progress_for(quiet=a.quiet or ctx.json)
    client = ctx.reader if isinstance(ctx.reader, LogClient) else None
    if a.since or a.until:
        if client is None:
            raise UsageError("--since/--until: want the log server (the time map is not in "
                             "the published tiles)")
        spec = spec_of_times(a)
        begin, end = index_range(client, spec.since, spec.until)
        report = RangeAuditor(client, ctx.verifier(), begin, end, check_index=not a.no_index,
                              progress=progress).run()
        ctx.emit(report.to_json(), format_report(report, None))
        return 0 if report.ok else 1
    index_check = None
    if client is not None and not a.no_index:
        index_check = IndexCheck(client, lambda kind, message, size: None)
    auditor = Auditor(ctx.reader, ctx.verifier(), archive_dir=archive_dir,
                      archive_witness=a.archive_witness, witness_urls=ctx.settings.witness_urls,
                      progress=progress, max_checkpoints=max(1, a.max_checkpoints),
                      index_check=index_check)
    if index_check is not None:
        index_check.find = auditor.find
    report = auditor.run()
    ctx.emit(report.to_json(), format_report(report, archive_dir))
    return 0 if report.ok else 1
