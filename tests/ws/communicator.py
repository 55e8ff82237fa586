"""A WebSocket test client on asgiref's ApplicationCommunicator.

Channels ships one in `channels.testing`, but importing that package pulls in daphne
(for its live-server test case), which we do not use; this is the small part we need.
"""

import json
from urllib.parse import unquote, urlparse

from asgiref.testing import ApplicationCommunicator


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(self, application, path: str, headers=None):
        parsed = urlparse(path)
        scope = {"type": "websocket", "path": unquote(parsed.path), "raw_path": parsed.path.encode(),
                 "query_string": parsed.query.encode(), "headers": list(headers or []), "subprotocols": [],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
        super().__init__(application, scope)

    async def connect(self, timeout: float = 5):
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        return True, response.get("subprotocol")

    async def send_to(self, text_data: str):
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def send_json_to(self, data):
        await self.send_to(json.dumps(data))

    async def receive_from(self, timeout: float = 5) -> str:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return response["text"]

    async def receive_json_from(self, timeout: float = 5):
        return json.loads(await self.receive_from(timeout))

    async def disconnect(self, code: int = 1000, timeout: float = 5):
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)
