"""TLS (`rediss://`) and AUTH, on a single node and on a Redis Cluster: the operator puts both in
REDIS_URL (a CA file as `?ssl_ca_certs=…`), and the store works unchanged — a cluster is detected
through TLS, and every node is reached with the same certificate checks and password."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.cluster import RedisCluster

from bot.domain.wins import Lane, Win
from bot.store import Store, connect
from tests.redis_server import RedisServer, find_redis_cli, find_redis_server, free_port

PASSWORD = "s3cret-pw"
TEAM = "T0TLS"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for 127.0.0.1, its own CA."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    paths = Tls(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def tls_args(tls: Tls, tls_port: int) -> list[str]:
    return [
        "--tls-port", str(tls_port), "--tls-cert-file", str(tls.cert),
        "--tls-key-file", str(tls.key), "--tls-ca-cert-file", str(tls.cert),
        "--tls-auth-clients", "no", "--requirepass", PASSWORD, "--masterauth", PASSWORD,
    ]  # fmt: skip


def url(port: int, tls: Tls, password: str = PASSWORD) -> str:
    return f"rediss://:{password}@127.0.0.1:{port}/0?ssl_ca_certs={tls.cert}"


def a_win(user: str, win_id: str) -> Win:
    return Win(
        id=win_id,
        team_id=TEAM,
        user_id=user,
        lane=Lane.CLARITY,
        text="Framed the bet",
        at=NOW,
        week="2026-W48",
        logged_at=NOW,
    )


def log_and_read(store: Store, users: list[str]) -> None:
    for i, user in enumerate(users):
        outcome = store.wins.log_win(a_win(user, f"w{i}"), tz="Europe/Berlin", now=NOW)
        assert outcome.status == "logged"
    for i, user in enumerate(users):
        [win] = store.wins.user_wins(TEAM, user)
        assert win.id == f"w{i}"
    assert store.health() == "ok"


def binaries() -> tuple[str, str]:
    server, cli = find_redis_server(), find_redis_cli()
    if server is None or cli is None:
        pytest.skip("needs redis-server and redis-cli")
    return server, cli


def test_a_single_node_over_tls_with_a_password(tls: Tls) -> None:
    server_binary, _ = binaries()
    tls_port = free_port()
    server = RedisServer(
        server_binary, aof=False, extra_args=tls_args(tls, tls_port), password=PASSWORD
    ).start()
    try:
        client = connect(url(tls_port, tls))
        assert type(client) is redis.Redis
        store = Store(client)
        try:
            log_and_read(store, ["U0ALICE", "U0BOB"])
        finally:
            store.close()
            client.close()
        wrong = Store(connect(url(tls_port, tls, password="wrong")))
        assert wrong.health() == "unreachable"  # refused: named, never a traceback
        wrong.redis.close()
    finally:
        server.remove()


@pytest.fixture(scope="module")
def tls_cluster(tls: Tls) -> Iterator[list[int]]:
    """Three TLS-only masters with a password, the cluster bus over TLS too."""
    server_binary, cli = binaries()
    servers: list[RedisServer] = []
    tls_ports: list[int] = []
    try:
        for _ in range(3):
            tls_port = free_port()
            args = [
                *tls_args(tls, tls_port),
                "--tls-cluster", "yes", "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-port", str(free_port()),
                "--cluster-node-timeout", "2000",
            ]  # fmt: skip
            servers.append(
                RedisServer(server_binary, aof=False, extra_args=args, password=PASSWORD).start()
            )
            tls_ports.append(tls_port)
        subprocess.run(
            [cli, "--tls", "--cacert", str(tls.cert), "-a", PASSWORD, "--no-auth-warning",
             "--cluster", "create", *(f"127.0.0.1:{p}" for p in tls_ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        client = RedisCluster.from_url(url(tls_ports[0], tls), decode_responses=True)
        try:
            deadline = dt.datetime.now(UTC) + dt.timedelta(seconds=30)
            while client.cluster_info().get("cluster_state") != "ok":  # type: ignore[attr-defined]
                assert dt.datetime.now(UTC) < deadline, "the TLS cluster did not form"
                client.nodes_manager.initialize()
        finally:
            client.close()
        yield tls_ports
    finally:
        for server in servers:
            server.remove()


def test_a_cluster_over_tls_with_a_password_is_detected_and_used(
    tls: Tls, tls_cluster: list[int]
) -> None:
    client = connect(url(tls_cluster[1], tls))  # any node
    assert isinstance(client, RedisCluster)
    store = Store(client)
    try:
        assert len(store.nodes()) == 3
        users = [f"U0PM{i:02d}" for i in range(12)]  # spread over the three masters
        nodes = {client.get_node_from_key(f"{{{TEAM}:{u}}}").name for u in users}
        assert len(nodes) == 3
        log_and_read(store, users)
    finally:
        store.close()
        client.close()
