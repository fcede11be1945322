"""The suite's own redis-server never ends up sharing another server's port: two test workers
that picked the same free port once flushed each other's keys (and a fault test stopping
"its" server stopped the other worker's)."""

from __future__ import annotations

import pytest
import redis

from tests.redis_server import RedisServer, find_redis_server


def test_a_taken_port_gets_a_server_of_its_own() -> None:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server on this machine")
    first = RedisServer(binary, aof=False).start()
    second = RedisServer(binary, port=first.port, aof=False)
    try:
        second.start()
        assert second.port != first.port
        for server in (first, second):
            client = redis.Redis(port=server.port)
            try:
                assert server.process is not None
                assert client.info("server")["process_id"] == server.process.pid
            finally:
                client.close()
    finally:
        second.remove()
        first.remove()
