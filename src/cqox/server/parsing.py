"""Uploads are parsed in a separate process, with memory and time limits.

Reading a table is where a hostile file does its damage: an 871 KB Parquet file of 100
million constant rows, a zip bomb, a string dictionary that decodes to gigabytes.  The
reading limits (:class:`~cqox.data.limits.ReadLimits`) refuse what a header, footer or
zip directory gives away; what they cannot see is contained here.  The API process
never decodes an upload: it copies the bytes to a temporary file and hands the file
to a child process that

- runs under ``RLIMIT_AS`` (``CQOX_PARSE_MEMORY_MB``: an allocation past it fails inside
  the child, never in the API process) and ``RLIMIT_CPU``;
- is killed when it runs past ``CQOX_PARSE_TIME_LIMIT_S`` of wall time;
- reads and validates the table, profiles it, infers its roles, writes it as Parquet
  to a temporary file next to the datasets (``fsync``) and sends back only metadata
  (counts, schema, roles, profile, checksum) — never the frame — as JSON of bounded
  size: the child handles hostile bytes, so its answer is data, never a pickle.

The parent renames the file into place; a refused or failed parse leaves nothing
behind.  Children come from a ``forkserver`` started with the engine already imported
(:meth:`UploadParser.start`), so a parse starts in milliseconds instead of the second
a fresh interpreter needs; at most ``CQOX_PARSE_CONCURRENCY`` run at once, and an
upload that finds no free slot within ``CQOX_PARSE_TIME_LIMIT_S`` is answered 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import resource
import signal
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

from cqox.data.limits import ReadLimits
from cqox.server.problems import ServiceError
from cqox.server.settings import Settings

#: Modules the forkserver imports once, so that every parsing child starts with them.
PRELOAD = ("cqox.server.parsing", "cqox.server.storage", "pyarrow.parquet", "openpyxl")
#: Seconds given to a child to exit after it answered (it only closes files).
EXIT_GRACE_S = 5.0
#: Largest answer a child may send (metadata of ``CQOX_MAX_COLUMNS`` columns is a few MB).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Setting that names each reading limit in messages.
SETTING_NAMES = {
    "max_cells": "CQOX_MAX_CELLS",
    "max_columns": "CQOX_MAX_COLUMNS",
    "max_expanded_bytes": "CQOX_MAX_EXPANDED_MB",
    "max_expansion_ratio": "CQOX_MAX_EXPANSION_RATIO",
}


def read_limits(settings: Settings) -> ReadLimits:
    """The reading limits of the service, named by their settings in messages."""
    return ReadLimits(
        max_cells=settings.max_cells,
        max_columns=settings.max_columns,
        max_expanded_bytes=settings.max_expanded_bytes,
        max_expansion_ratio=settings.max_expansion_ratio,
        names=SETTING_NAMES,
    )


class UploadRefusedError(ServiceError):
    """An upload the parsing process refused, with the code it gave (or a limit's)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details, headers=headers)
        self.code = code


@dataclass(frozen=True)
class ParseJob:
    """What a parsing child reads and writes (plain values: it is pickled to the child).

    Attributes
    ----------
    upload : str
        Path of the uploaded bytes (a temporary file).
    name : str
        The upload's file name (format and messages).
    output : str
        Temporary path the child writes the validated Parquet to.
    limits : ReadLimits
        Reading limits.
    memory_bytes : int
        ``RLIMIT_AS`` of the child.
    time_limit_s : float
        Wall-time limit (the child's CPU limit is a little above it, for orphans).
    """

    upload: str
    name: str
    output: str
    limits: ReadLimits
    memory_bytes: int
    time_limit_s: float


def parse_and_store(job: ParseJob) -> dict[str, Any]:
    """Read, validate and store an upload; return its metadata (runs in the child).

    The keys are those of the dataset row: ``format``, ``encoding``, ``rows``,
    ``n_columns``, ``columns``, ``roles``, ``domain``, ``profile``, ``stored_bytes``,
    ``checksum``.
    """
    from cqox.core.jsonable import to_jsonable
    from cqox.data.domain import detect_domain
    from cqox.data.infer import infer_roles
    from cqox.data.profile import column_kind, profile
    from cqox.server.storage import parse_upload, write_parquet

    raw = Path(job.upload).read_bytes()
    table = parse_upload(raw, job.name, job.limits)
    del raw
    frame = table.frame
    size, checksum = write_parquet(frame, Path(job.output))
    roles = infer_roles(frame)
    return {
        "format": table.format,
        "encoding": table.encoding,
        "rows": len(frame),
        "n_columns": len(frame.columns),
        "columns": [
            {"name": str(c), "dtype": str(frame[c].dtype), "kind": column_kind(frame[c])}
            for c in frame.columns
        ],
        "roles": roles.to_dict(),  # the analysis JSON's shape: role → column, inferred
        "domain": detect_domain([str(c) for c in frame.columns]).to_dict(),
        "profile": to_jsonable(profile(frame)),
        "stored_bytes": size,
        "checksum": checksum,
    }


def _limit_resources(job: ParseJob) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (job.memory_bytes, job.memory_bytes))
    # a child whose parent died is still stopped, by the kernel (SIGXCPU, then SIGKILL)
    cpu = math.ceil(job.time_limit_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _memory_message(job: ParseJob) -> str:
    return (
        f"parsing '{job.name}' needs more than the {job.memory_bytes >> 20} MB that the "
        "parsing process may use (CQOX_PARSE_MEMORY_MB)"
    )


def child_main(conn: Connection, job: ParseJob) -> None:
    """Entry point of a parsing child: parse under the limits, send one message."""
    from cqox.core.jsonable import to_jsonable
    from cqox.errors import CqoxError

    message: tuple[Any, ...]
    try:
        _limit_resources(job)
        message = ("ok", parse_and_store(job))
    except MemoryError:
        message = (
            "error",
            "PAYLOAD_TOO_LARGE",
            _memory_message(job),
            {"limit": "CQOX_PARSE_MEMORY_MB", "max": job.memory_bytes >> 20},
        )
    except (CqoxError, ServiceError) as exc:
        code = getattr(exc, "code", "INVALID_DATA")
        code = "INVALID_DATA" if code == "INTERNAL_ERROR" else code
        message = ("error", code, exc.message, exc.details)
    except Exception as exc:  # a reader's own error on a malformed file
        message = ("error", "INVALID_DATA", f"cannot read '{job.name}': {type(exc).__name__}", {})
    try:
        conn.send_bytes(json.dumps(to_jsonable(message)).encode())
    finally:
        conn.close()


def ping() -> None:
    """A child that does nothing (warms the forkserver up)."""


class UploadParser:
    """Runs :func:`parse_and_store` in a limited child process, a few at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.slots = threading.BoundedSemaphore(settings.parse_concurrency)
        self.context = mp.get_context("forkserver")
        self._turns: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a parsing slot on the event loop, not in a server thread.

        A burst of uploads used to wait for :attr:`slots` inside the request thread
        pool (40 threads): fifty queued uploads held every thread, so every other
        request of the process — logins, job polls — queued behind them for as long
        as the uploads took.  The upload route enters this first; its handler (and
        :meth:`parse`) then runs in a thread only once a slot is free.  One that finds
        no slot within ``CQOX_PARSE_TIME_LIMIT_S`` is answered 503.
        """
        if self._turns is None:  # created on the service's event loop
            self._turns = asyncio.Semaphore(self.settings.parse_concurrency)
        try:
            await asyncio.wait_for(self._turns.acquire(), self.settings.parse_time_limit_s)
        except TimeoutError as exc:
            raise _busy(self.settings.parse_concurrency) from exc
        try:
            yield
        finally:
            self._turns.release()

    def start(self) -> None:
        """Start the forkserver with the engine imported, and wait until it forks.

        Called at start-up, so that the first upload after a restart is refused or
        parsed as fast as any other.
        """
        self.context.set_forkserver_preload(list(PRELOAD))
        child = self.context.Process(target=ping, daemon=True)
        child.start()
        child.join()

    def job(self, upload: Path, name: str, output: Path) -> ParseJob:
        """The parse job of an upload under this service's limits."""
        s = self.settings
        return ParseJob(
            upload=str(upload),
            name=name,
            output=str(output),
            limits=read_limits(s),
            memory_bytes=s.parse_memory_mb * 1024 * 1024,
            time_limit_s=s.parse_time_limit_s,
        )

    def parse(self, job: ParseJob) -> dict[str, Any]:
        """Parse in a child; the metadata, or an :class:`UploadRefusedError`."""
        # a burst of uploads queues (each wait holds a server thread, as parsing in the
        # API process did); one that cannot start within a parse's time is told to retry
        if not self.slots.acquire(timeout=job.time_limit_s):
            raise _busy(self.settings.parse_concurrency)
        try:
            return self._run(job)
        finally:
            self.slots.release()

    def _run(self, job: ParseJob) -> dict[str, Any]:
        reader, writer = self.context.Pipe(duplex=False)
        child = self.context.Process(target=child_main, args=(writer, job), daemon=True)
        started = time.monotonic()
        child.start()
        writer.close()
        message: Any = None
        try:
            if not reader.poll(job.time_limit_s):
                _kill(child)
                raise UploadRefusedError(
                    "PAYLOAD_TOO_LARGE",
                    f"parsing '{job.name}' took longer than {job.time_limit_s:g} s "
                    "(CQOX_PARSE_TIME_LIMIT_S); the parsing process was stopped",
                    details={"limit": "CQOX_PARSE_TIME_LIMIT_S", "max": job.time_limit_s},
                )
            try:
                message = json.loads(reader.recv_bytes(MAX_ANSWER_BYTES))
            except (EOFError, OSError, ValueError):
                message = None  # no answer, or not one a parsing child writes
        finally:
            reader.close()
            child.join(EXIT_GRACE_S)
            if child.is_alive():
                _kill(child)
        if message is None:
            _died(job, child.exitcode, time.monotonic() - started)
        if message[0] == "ok":
            result: dict[str, Any] = message[1]
            return result
        _, code, text, details = message
        raise UploadRefusedError(code, text, details=details)


def _busy(concurrency: int) -> UploadRefusedError:
    return UploadRefusedError(
        "SERVICE_UNAVAILABLE",
        f"all {concurrency} upload parsers are busy (CQOX_PARSE_CONCURRENCY); retry shortly",
        headers={"Retry-After": "5"},
    )


def _kill(child: Any) -> None:
    if child.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    child.join(EXIT_GRACE_S)


def _died(job: ParseJob, exitcode: int | None, elapsed: float) -> NoReturn:
    """A child that ended without a word: a memory or CPU limit, or a reader's crash."""
    how = f"exit code {exitcode}"
    if exitcode is not None and exitcode < 0:
        try:
            how = f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"signal {-exitcode}"
    raise UploadRefusedError(
        "PAYLOAD_TOO_LARGE",
        f"parsing '{job.name}' stopped after {elapsed:.1f} s ({how}): the file needs more "
        f"than the {job.memory_bytes >> 20} MB memory (CQOX_PARSE_MEMORY_MB) or "
        f"{job.time_limit_s:g} s (CQOX_PARSE_TIME_LIMIT_S) that parsing may use, or it is "
        "malformed",
        details={"exit": how},
    )
