"""The top-level ``asgi`` module older Python Workers code imports: ``workers.asgi`` itself.

``import asgi; return await asgi.fetch(app, request.js_object, self.env)`` (Cloudflare's
FastAPI example) gets ``workers.asgi``: this module replaces itself in ``sys.modules``.
"""

import sys

from workers import asgi as _asgi

sys.modules[__name__] = _asgi
