"""Graceful shutdown that drains keep-alive connections instead of cutting them.

On SIGTERM uvicorn stops accepting connections and lets requests in flight finish, but it
closes every *idle* keep-alive connection at once. A client that has just sent its next
request on such a connection (the bytes are in the server's socket buffer, not yet read)
loses it: "server disconnected without sending a response", for a request the server
never saw. Here an idle connection stays open :data:`DRAIN_SECONDS` after shutdown begins:
a request arriving in that window is served with ``Connection: close``, then the
connection closes; a connection still idle at the end of the window is closed.

``parity serve`` runs uvicorn with this protocol (``http=DrainingHttpToolsProtocol``).

Example:
    >>> uvicorn.run(app, http=DrainingHttpToolsProtocol)  # doctest: +SKIP
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DRAIN_SECONDS = 1.0
"""How long an idle keep-alive connection may still bring a request after SIGTERM."""


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose shutdown drains idle keep-alive connections.

    Example:
        >>> DrainingHttpToolsProtocol.shutdown is not HttpToolsProtocol.shutdown
        True
    """

    _draining = False

    def shutdown(self) -> None:
        """Finish the request in flight, serve one that arrives within the drain window
        (each with ``Connection: close``), then close."""
        self._draining = True
        if self.cycle is None or self.cycle.response_complete:
            if self.timeout_keep_alive_task is not None:
                self.timeout_keep_alive_task.cancel()
                self.timeout_keep_alive_task = None
            self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with Connection: close

    def _close_if_idle(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()
