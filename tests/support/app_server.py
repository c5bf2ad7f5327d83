"""An ASGI app served over real HTTP on 127.0.0.1 from a thread of the test process (tests/fakes/asgi_h11.py's
server, which ends a handler the moment its client hangs up, as a production server notices a disconnect).

    with AppServer(Starlette(routes=...)) as server:
        OpenAI(base_url=server.url + "/v1", api_key=...)
"""

from __future__ import annotations

from tests.fakes.asgi_h11 import H11Server, ServerThread


class AppServer:
    def __init__(self, app, port: int = 0):
        self._server = H11Server(app, "127.0.0.1", port)
        self._runner = ServerThread(self._server, "app-server")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> AppServer:
        self._runner.start()
        return self

    def stop(self) -> None:
        self._runner.stop()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
