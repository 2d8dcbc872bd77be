"""Checksums of a report's exports, computed once per snapshot and report period and kept.

The printed report names each export's file and SHA-256 so that a filed report and a filed
export can be matched. The checksum is of the bytes the download sends: the same chunks
(`table_chunks`) encoded as the streaming response encodes them (UTF-8).
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from policies.exports import ExportScope, table_chunks
from policies.models import ExportChecksum


def export_checksum_compute(*, scope: ExportScope, table: str, fmt: str) -> tuple[str, int]:
    """SHA-256 (hex) and size in bytes of one export, streamed through the hash."""
    digest = hashlib.sha256()
    size = 0
    for chunk in table_chunks(table, fmt, scope):
        data = chunk.encode("utf-8")
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size


def export_checksums_ensure(
    *, scope: ExportScope, exports: tuple[tuple[str, str], ...]
) -> dict[tuple[str, str], ExportChecksum]:
    """Every export's checksum for this report, computing (and keeping) the missing ones."""
    known = {
        (row.table, row.fmt): row
        for row in ExportChecksum.objects.filter(
            snapshot=scope.snapshot, at=scope.at, since=scope.since
        )
    }
    for table, fmt in exports:
        if (table, fmt) in known:
            continue
        sha256, size = export_checksum_compute(scope=scope, table=table, fmt=fmt)
        try:
            with transaction.atomic():
                known[(table, fmt)] = ExportChecksum.objects.create(
                    snapshot=scope.snapshot,
                    table=table,
                    fmt=fmt,
                    at=scope.at,
                    since=scope.since,
                    sha256=sha256,
                    size_bytes=size,
                    computed_at=timezone.now(),
                )
        except IntegrityError:  # another request computed the same file meanwhile
            known[(table, fmt)] = ExportChecksum.objects.get(
                snapshot=scope.snapshot, table=table, fmt=fmt, at=scope.at, since=scope.since
            )
    return known
