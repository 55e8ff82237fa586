"""A local SMTP server for tests: speaks enough SMTP for Django's SMTP backend (no TLS, no auth), keeps every
message it accepted, and can be slow (`delay` seconds before it answers the end of each message), as a
far-away or overloaded mail server is."""

from __future__ import annotations

import email
import socketserver
import threading
import time
from email.message import Message


class SmtpStandIn:
    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.messages: list[Message] = []
        self.received_at: list[float] = []
        self._server: socketserver.ThreadingTCPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def email_url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpStandIn:
        standin = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())
                self.wfile.flush()

            def handle(self) -> None:
                self.reply("220 standin ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 standin")
                    elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = []
                        while (body := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            data.append(body[1:] if body.startswith(b"..") else body)
                        time.sleep(standin.delay)
                        standin.messages.append(email.message_from_bytes(b"".join(data)))
                        standin.received_at.append(time.monotonic())
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="smtp-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
