"""How `scangrade serve` runs the API: uvicorn with an HTTP protocol that closes connections
whose request does not arrive in time. Uvicorn closes an idle keep-alive connection, but not
one that opened and then sends its request line and headers a byte at a time (slowloris): a
few hundred of those would hold every socket of the server."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """h11 with a deadline for each request's head: `header_timeout_s` after the connection
    opened, or after the previous response, the request line and headers must be in."""

    header_timeout_s = 10.0  # set per server by protocol_with_header_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._cycle_seen = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None  # not disarmed: no request head came in time
        if not self.transport.is_closing():
            self.transport.close()  # nothing to answer: the request never arrived

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._head_arrived()

    def _head_arrived(self) -> bool:
        """Disarms the deadline when a new request's head has come in full (h11 then starts
        a cycle for it); True then."""
        if self.cycle is not None and self.cycle is not self._cycle_seen:
            self._cycle_seen = self.cycle
            self._disarm()
            return True
        return False

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request already buffered
        if not self.transport.is_closing() and not self._head_arrived():
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": seconds})
