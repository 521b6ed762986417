from __future__ import annotations

from ..api.conftest import Server, sqlite_server

__all__ = ["Server", "sqlite_server"]
