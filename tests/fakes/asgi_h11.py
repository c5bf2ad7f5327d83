"""A small HTTP/1.1 server for ASGI apps, built on h11 (already installed as an httpx dependency).

Why not an installed server: uvicorn is absent, and granian's embedded server is marked
experimental and panics in its Rust runtime at interpreter exit when run from a background
thread. A fake API also needs exact control a general server hides: cancel a handler the moment
the client hangs up (so a "hang" ends with the client's timeout), and abort a connection mid-body
(the app sends the extension message {"type": "fake.abort"}).

Scope: one request at a time per connection, keep-alive, chunked or sized responses, the whole
request body read before the app runs (bodies here are at most a few images)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import unquote

import h11

MAX_BODY = 512 * 1024 * 1024


class _Abort(Exception):
    pass


class H11Server:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        self.app, self.host, self.port = app, host, port
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0.01)  # let closed transports run their connection_lost callbacks

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                event = await _next_event(conn, reader)
                if not isinstance(event, h11.Request):
                    break
                body = bytearray()
                while True:
                    part = await _next_event(conn, reader)
                    if isinstance(part, h11.Data):
                        body += part.data
                        if len(body) > MAX_BODY:
                            raise _Abort
                    elif isinstance(part, h11.EndOfMessage):
                        break
                    else:
                        raise _Abort
                await self._run_app(conn, event, bytes(body), reader, writer)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (_Abort, ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._connections.discard(task)
            writer.close()

    async def _run_app(self, conn, request: h11.Request, body: bytes, reader, writer) -> None:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": request.method.decode(), "scheme": "http", "path": unquote(path),
            "raw_path": path.encode("latin-1"), "query_string": query.encode("latin-1"), "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers],
            "client": writer.get_extra_info("peername")[:2], "server": (self.host, self.port),
        }
        disconnected = asyncio.Event()
        body_sent = False
        started = False

        async def receive():
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            nonlocal started
            kind = message["type"]
            if kind == "fake.abort":
                raise _Abort
            if kind == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                writer.write(conn.send(h11.Response(status_code=message["status"], headers=headers)))
            elif kind == "http.response.body":
                if message.get("body"):
                    writer.write(conn.send(h11.Data(data=message["body"])))
                if not message.get("more_body", False):
                    writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()

        app_task = asyncio.create_task(self.app(scope, receive, send))

        async def watch_disconnect():
            # A client that gives up (timeout) closes the socket: end the handler with it.
            data = await reader.read(65536)
            if data:
                conn.receive_data(data)  # a pipelined next request; h11 buffers it
                return
            disconnected.set()
            app_task.cancel()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            await asyncio.wait({app_task})
        finally:
            watcher.cancel()
            app_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        if app_task.cancelled() or disconnected.is_set():
            raise _Abort
        error = app_task.exception()
        if error is not None:
            if isinstance(error, _Abort) or started:
                raise _Abort
            payload = b"Internal Server Error"
            writer.write(conn.send(h11.Response(status_code=500, headers=[
                ("content-type", "text/plain"), ("content-length", str(len(payload)))])))
            writer.write(conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage()))
            await writer.drain()


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader):
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
            continue
        return event


class ServerThread:
    """Runs an H11Server on an event loop of its own in a daemon thread (tests serve apps from their own process)."""

    def __init__(self, server: H11Server, name: str = "asgi-h11"):
        self.server, self.name = server, name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:  # port in use etc.: surface it in start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.server.close())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None
