"""The web tool: server-rendered pages at ``/app/`` for staff users, in the API's process.

Pages are thin like the JSON routes: they read a form, call the same use cases
(``parlay.accounts.usecases`` ...) and render a Jinja2 template. ``security`` holds the session
cookie, the CSRF and origin checks; ``auth`` the signed-in user and the permission each page
declares; ``nav`` the pages a role may open. docs/web-tool.md explains how to add a page.
"""

from __future__ import annotations

from parlay.web.app import WEB_ROOT, create_web_app

__all__ = ["WEB_ROOT", "create_web_app"]
