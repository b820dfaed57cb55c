"""The team portal (`crm serve`, DESIGN §8): a Starlette app over the library functions.

`create_app(home_path)` builds the ASGI app; `crm_sheets.cli.serve_cmd` runs it under
uvicorn with the home's watcher. Sessions live server-side (`sessions.py`), pages are
Jinja2 templates in the home's language (`texts.py`), the JSON API and the pages call
the same functions (`service.py`).
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
