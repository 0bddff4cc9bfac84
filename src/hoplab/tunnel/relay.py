"""The browser's end of the tunnel: 127.0.0.1:PORT, relayed by hoplab to ssh's Unix socket.

OpenSSH leaves Nagle's algorithm on for a connection it accepts on a ``-L`` port whose target is
a Unix socket (channels.c sets TCP_NODELAY on the accepted socket only when the target is not a
socket path), and Jupyter listens on a Unix socket. A kernel answers an execute with several
small messages (busy, execute_input, execute_result, idle), so every exchange waited for the
browser's delayed ACK, about 40 ms. hoplab therefore has ssh forward a Unix socket in its
private runtime directory (Unix sockets have no Nagle) and serves the TCP port itself, with
TCP_NODELAY on every accepted socket.

A :class:`Relay` is one listener on 127.0.0.1 and one thread running an asyncio loop for all of
its connections: a connection is two pumps, one per direction, each waiting on its read and on
the other side's drain (bounded buffers, no busy loop). A side that ends its writing (EOF) is
passed on as a half-close; the connection closes when both directions have ended or one side
fails. :meth:`Relay.close` ends every connection and joins the thread.

The relays of this process are kept here (:func:`serve`, :func:`serving`, :func:`stop`): they
are this process's listening sockets, the ones ``hoplab.tunnel.listener`` finds under its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import threading
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError, PortInUseError
from hoplab.ssh.ports import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Iterator

CHUNK = 64 * 1024  # read at most this much at a time; a pump holds at most ~2 chunks
MAX_CONNECTIONS = 512  # a browser opens a few dozen; more are refused, not queued
BACKLOG = 128
CONNECT_PATIENCE = 2.0  # how long a connection waits for room in the forward's accept queue
START_TIMEOUT = 10.0
# what a terminal, a logout or `kill` sends: left to the main thread (see Relay._run)
USER_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
STOP_TIMEOUT = 10.0


class Relay:
    """127.0.0.1:``port`` (0: any free port) relayed to the Unix socket ``target``."""

    def __init__(self, port: int, target: str, listener: socket.socket | None = None) -> None:
        self.port = port
        self.target = target
        self._listener = listener  # given: one inherited from the hoplab that served before
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._failed: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Relay:
        """Bind the port (:class:`PortInUseError` if taken), or take the listener given, and
        serve it from a thread."""
        listener = self._listener if self._listener is not None else _bind(self.port)
        self._listener = listener
        self.port = listener.getsockname()[1]
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(listener, ready), name=f"hoplab-relay-{self.port}", daemon=True
        )
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or self._failed is not None:
            self.close()
            raise HoplabError(
                f"the local relay on 127.0.0.1:{self.port} did not start: {self._failed}"
            )
        return self

    def listening_fd(self) -> int:
        """A new descriptor of the listening socket, for a process that serves it next: the
        connections that arrive meanwhile wait in its queue, none is refused."""
        if self._listener is None:
            raise HoplabError(f"the relay on 127.0.0.1:{self.port} does not listen")
        return os.dup(self._listener.fileno())

    def close(self) -> None:
        """End every connection, close the listener and join the thread (idempotent)."""
        loop, thread, stopping = self._loop, self._thread, self._stopping
        if thread is None or loop is None:
            return
        if thread.is_alive() and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        thread.join(STOP_TIMEOUT)
        self._thread = None

    # the loop's thread --------------------------------------------------------------------

    def _run(self, listener: socket.socket, ready: threading.Event) -> None:
        # Python handles signals in the main thread only, and POSIX lets one sent to the
        # process reach any thread that does not block it (Linux mostly picks the main thread,
        # macOS need not): a Ctrl-C taken by this loop, waiting in epoll or kqueue, would
        # interrupt nothing in the main thread. This thread starts no process, which would
        # inherit the mask.
        signal.pthread_sigmask(signal.SIG_BLOCK, USER_SIGNALS)
        loop = self._loop
        if loop is None:  # pragma: no cover - set before the thread starts
            return
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(listener, ready))
        except BaseException as exc:  # noqa: BLE001 - handed to start(), which raises it
            self._failed = exc
            ready.set()
        finally:
            listener.close()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, listener: socket.socket, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle, sock=listener, limit=CHUNK)
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - a stream handler always runs in a task
            return
        self._handlers.add(task)
        try:
            accepted = writer.get_extra_info("socket")
            if accepted is not None:
                accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(self._handlers) > MAX_CONNECTIONS:
                return
            try:
                far_reader, far_writer = await _connect(self.target)
            except OSError:  # ssh's forward is gone: the browser (or the probe) sees a close
                return
            try:
                await _both_ways(reader, writer, far_reader, far_writer)
            finally:
                await _close(far_writer)
        finally:
            await _close(writer)
            self._handlers.discard(task)


async def _connect(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the Unix socket ``path``; a full accept queue (EAGAIN, when a browser opens
    many connections at once) is waited out for a moment, with backoff, not failed."""
    delay = 0.001
    waited = 0.0
    while True:
        try:
            return await asyncio.open_unix_connection(path, limit=CHUNK)
        except BlockingIOError:
            if waited >= CONNECT_PATIENCE:
                raise
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.1)


async def _both_ways(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    far_reader: asyncio.StreamReader,
    far_writer: asyncio.StreamWriter,
) -> None:
    """Pump each direction until both have ended; a failure on either side ends both."""
    pumps = [
        asyncio.ensure_future(_pump(reader, far_writer)),
        asyncio.ensure_future(_pump(far_reader, writer)),
    ]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while chunk := await source.read(CHUNK):
        sink.write(chunk)
        await sink.drain()
    if sink.can_write_eof():  # the half-close, passed on: the other direction goes on
        with contextlib.suppress(OSError):
            sink.write_eof()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()


def _bind(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # as ssh does: a port whose last connections are in TIME_WAIT is free to listen on again
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((LOOPBACK, port))
        listener.listen(BACKLOG)
    except OSError as exc:
        listener.close()
        if exc.errno in {errno.EADDRINUSE, errno.EACCES}:
            raise PortInUseError(port) from exc
        raise
    listener.setblocking(False)
    return listener


# this process's relays ----------------------------------------------------------------------

_lock = threading.Lock()
_relays: dict[int, Relay] = {}


def serve(port: int, target: str) -> Relay:
    """Relay 127.0.0.1:``port`` (0: a free one) to ``target`` from this process; a relay this
    process already runs on that port to that target is kept, one to another target replaced."""
    with _lock:
        current = _relays.get(port)
        if current is not None and current.running and current.target == target:
            return current
        if current is not None:
            current.close()
            del _relays[port]
        relay = Relay(port, target).start()
        _relays[relay.port] = relay
        return relay


def adopt(fd: int, target: str) -> Relay:
    """Serve the inherited listening socket ``fd`` (see :meth:`Relay.listening_fd`), relayed to
    ``target``: the port a previous hoplab served, with no moment where it is closed."""
    listener = socket.socket(fileno=fd)
    if listener.family != socket.AF_INET or listener.getsockname()[0] != LOOPBACK:
        listener.close()
        raise HoplabError(f"descriptor {fd} is not a listener on {LOOPBACK}")
    listener.setblocking(False)
    relay = Relay(listener.getsockname()[1], target, listener)
    with _lock:
        if relay.port in _relays:
            listener.close()
            raise HoplabError(f"this process already relays 127.0.0.1:{relay.port}")
        _relays[relay.port] = relay.start()
    return relay


def serving(port: int | None) -> Relay | None:
    """This process's running relay on ``port``, if any."""
    with _lock:
        relay = _relays.get(port) if port is not None else None
        return relay if relay is not None and relay.running else None


def stop(port: int | None) -> bool:
    """Close this process's relay on ``port``; whether there was one."""
    with _lock:
        relay = _relays.pop(port, None) if port is not None else None
    if relay is None:
        return False
    relay.close()
    return True


def stop_all() -> None:
    """Close every relay of this process (before another process takes the ports over)."""
    with _lock:
        relays = list(_relays.values())
        _relays.clear()
    for relay in relays:
        relay.close()


def ports() -> Iterator[int]:
    """The ports this process relays."""
    with _lock:
        return iter(sorted(_relays))
