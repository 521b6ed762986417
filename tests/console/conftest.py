from ..api.conftest import Server, sqlite_server

__all__ = ["Server", "sqlite_server"]
