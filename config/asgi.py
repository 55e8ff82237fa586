"""ASGI entry point: Django views and the API over HTTP, Channels over WebSockets."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web's request threads share a pool of PostgreSQL connections per process (config/settings.py,
# DB_POOL_MAX_SIZE; 0 turns it off). Read when the settings load, so it has no effect where they are loaded
# already, and taken out again after, so processes started from here (tests, workers) do not inherit it.
_pool_default = "DB_POOL_MAX_SIZE" not in os.environ
if _pool_default:
    os.environ["DB_POOL_MAX_SIZE"] = "10"

from django.core.wsgi import get_wsgi_application  # noqa: E402

django_wsgi = get_wsgi_application()
if _pool_default:
    del os.environ["DB_POOL_MAX_SIZE"]

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from accounts.ws_auth import BrowserOriginValidator, SessionOrJWTAuthStack, ws_log_filter_install  # noqa: E402
from config.asgi_http import WsgiOnThreads  # noqa: E402
from config.proxy import TrustedProxyHeaders  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from keys.services import encryption_verify  # noqa: E402
from ops.websockets import count_websockets  # noqa: E402

ws_log_filter_install()  # no query string of a WebSocket path in the server's logs
encryption_verify()  # refuse to serve if the configured keys cannot open the stored secrets

# HTTP: Django's WSGI handler on a pool of threads, one hop per request (config/asgi_http.py).
# WEB_HTTP_HANDLER=django-asgi serves it through Django's own ASGI handler instead (bench comparisons).
if settings.WEB_HTTP_HANDLER == "django-asgi":
    from django.core.asgi import ASGIHandler

    http_app = ASGIHandler()
    if settings.SERVE_STATIC:
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        http_app = ASGIStaticFilesHandler(http_app)
else:
    http_wsgi = django_wsgi
    if settings.SERVE_STATIC:
        from django.contrib.staticfiles.handlers import StaticFilesHandler

        http_wsgi = StaticFilesHandler(django_wsgi)
    http_app = WsgiOnThreads(http_wsgi)



def with_server_send(app):
    """Keep the server's own `send` in the scope as "server_send".

    The price stream writes its frames through it, past Channels' session wrapper: that wrapper
    has nothing to do for a `websocket.send`, yet looking at the lazy session on every frame cost
    about a sixth of the web process's CPU with 1,000 price clients.
    """

    async def app_with_server_send(scope, receive, send):
        return await app({**scope, "server_send": send}, receive, send)

    return app_with_server_send


application = TrustedProxyHeaders(ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": with_server_send(
            count_websockets(BrowserOriginValidator(SessionOrJWTAuthStack(URLRouter(websocket_urlpatterns))))),
    }
))

# Everything loaded so far (Django, the apps, every view the URLconf imports: about 250,000 objects) lives as
# long as the process. Python's full garbage collection walks all of them each time it runs, about 70 ms on
# this machine with the GIL held, every few hundred requests: that pause was the p99 of the API under load.
# Frozen, they are left out of every collection (gc.freeze); what requests allocate is still collected.
get_resolver().url_patterns  # noqa: B018 - import every view now, so it is part of what is frozen
gc.collect()
gc.freeze()
