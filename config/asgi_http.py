"""HTTP under the ASGI server, with one thread hop per request: Django's WSGI handler run on a thread pool.

Django's own ASGI handler runs the (synchronous) middleware and views through asgiref: from the event loop
into a thread for the sync middleware, back to the loop for the async-capable ones (each of Django's own
middleware then hops to a thread for process_request and again for process_response), into a thread for
the view, and back. On this 2-core machine that cost about 1.5 ms of CPU per request before any view code
ran (bench/api_cpu.py: /api/health/ping/ 2.2 ms of server CPU under Django's ASGI handler, 0.5-0.7 ms
under WSGI), and it ran every view of a process on one thread (thread_sensitive), so one slow query held
up every other request of that process. Every view here is synchronous: this app reads the request body
on the loop (spooled to a temporary file past FILE_UPLOAD_MAX_MEMORY_SIZE, as Django's ASGI handler does),
runs the whole WSGI request on one of WEB_THREADS threads, and sends the answer from the loop. WebSockets
keep going through Channels (config/asgi.py). The WSGI request is the standard one (the test client's too).
"""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from tempfile import SpooledTemporaryFile

from django.conf import settings


def _environ(scope: dict, body) -> dict:
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name):]
    server = scope.get("server") or ("localhost", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin1"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.get("client"):  # none for a unix-socket peer (nginx): then no REMOTE_ADDR, as under Django's ASGI
        environ["REMOTE_ADDR"] = scope["client"][0]
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        if name not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            name = f"HTTP_{name}"
        value = raw_value.decode("latin1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value  # repeated: joined, as WSGI
    return environ


class WsgiOnThreads:
    """An ASGI app (http scopes only) that runs a WSGI app, the whole request on one pool thread."""

    def __init__(self, wsgi_app, threads: int | None = None):
        self.wsgi_app = wsgi_app
        self.threads = threads or settings.WEB_THREADS
        self._executor: ThreadPoolExecutor | None = None
        self._pid = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None or self._pid != os.getpid():  # made in the worker process, never inherited
            self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="http")
            self._pid = os.getpid()
        return self._executor

    def _run(self, environ: dict) -> tuple[int, list, list[bytes]]:
        started: list = []

        def start_response(status, headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return lambda data: chunks.append(data)  # the legacy write() callable

        chunks: list[bytes] = []
        result = self.wsgi_app(environ, start_response)
        try:
            chunks.extend(result)  # a StreamingHttpResponse is read here, on the thread, to its end
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django's request_finished: the database connection goes back to the pool
        status, headers = started
        return int(status.split(" ", 1)[0]), headers, chunks

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"{type(self).__name__} serves http scopes only, not {scope['type']!r}")
        body = SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")  # noqa: SIM115
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client went away before its request was complete
                body.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body.seek(0)
            loop = asyncio.get_running_loop()
            status, headers, chunks = await loop.run_in_executor(self.executor, self._run, _environ(scope, body))
        finally:
            body.close()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers]})
        await send({"type": "http.response.body", "body": b"".join(chunks)})
