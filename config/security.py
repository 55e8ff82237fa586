"""Security headers every page and API answer carries, from the app itself (so `make run` has them too).

Content-Security-Policy: scripts, styles, fonts and connections only from this origin, no inline script
and no inline <style> (style attributes are allowed: SVG and a few widgets use them), no plugins, no
framing, forms post only here. Permissions-Policy: no camera, microphone, location, payment or USB.
"""

from django.conf import settings


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and request.path.startswith("/api/docs/"):
            # Swagger UI injects its own <style> elements; scripts stay as strict as everywhere
            policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'", 1)
        if policy:
            response.headers.setdefault("Content-Security-Policy", policy)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
