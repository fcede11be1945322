"""The Redis Cluster fixture itself: a real 3-master cluster whose slot map, redirects,
resharding, slot migrations and node restarts behave as the store's cluster tests assume.
Checked through one plain client per node, so a broken fixture fails here, not there."""

from __future__ import annotations

import re
import shutil

import pytest
import redis
from redis.exceptions import AskError, ClusterDownError, MovedError

from tests.redis_cluster import (
    SLOTS,
    ClusterNode,
    RedisClusterServers,
    SlotMigration,
    _cluster_info,
    key_slot,
)
from tests.redis_server import RedisServer, find_redis_server


def _moved_to(cluster: RedisClusterServers, index: int, key: str) -> int:
    """Which node `index` redirects a GET of `key` to (fails unless it answers MOVED)."""
    client = cluster.client(index)
    try:
        with pytest.raises(MovedError) as moved:
            client.get(key)
    finally:
        client.close()
    assert moved.value.slot_id == key_slot(key)
    return cluster.ports.index(moved.value.port)


def test_three_masters_cover_every_slot(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    assert cluster_url == redis_cluster.url == redis_cluster.urls[0]
    assert len(redis_cluster.ports) == len(set(redis_cluster.ports)) == 3
    ids = redis_cluster.node_ids()
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{40}", i) for i in ids)
    for index in range(3):
        client = redis_cluster.client(index)
        try:
            assert client.execute_command("ROLE")[0] == "master"
            info = _cluster_info(client.execute_command("CLUSTER", "INFO"))
            assert info["cluster_state"] == "ok"
            assert info["cluster_slots_assigned"] == info["cluster_slots_ok"] == str(SLOTS)
            assert info["cluster_known_nodes"] == info["cluster_size"] == "3"
            # Every node's map: whole ranges, each served by the node at that index's port.
            covered = 0
            for low, high, master, *replicas in client.execute_command("CLUSTER", "SLOTS"):
                assert replicas == []
                assert ids[redis_cluster.ports.index(master[1])] == master[2]
                covered += high - low + 1
            assert covered == SLOTS
        finally:
            client.close()
    owners = redis_cluster.slot_owners()
    assert None not in owners
    assert all(owners.count(index) > 1000 for index in range(3))


def test_key_slot_is_the_clusters() -> None:
    keys = ["", "a", "{a}", "{a}x", "x{a}y", "{}a", "{a", "a}{b}", "{a}{b}", "{{a}}", "é{ü}"]
    keys += [f"k{n}" for n in range(50)]
    expected = {"a": 15495, "{a}x": 15495, "x{a}y": 15495, "{a}{b}": 15495, "foo": 12182}
    for key, slot in expected.items():
        assert key_slot(key) == slot, key
    assert key_slot("{}a") != key_slot("a")  # an empty tag does not count
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server to compare CLUSTER KEYSLOT with")
    node = ClusterNode(binary, aof=False).start()  # CLUSTER KEYSLOT needs no joined cluster
    client = redis.Redis(port=node.port, decode_responses=True)
    try:
        for key in keys:
            assert key_slot(key) == client.execute_command("CLUSTER", "KEYSLOT", key), key
    finally:
        client.close()
        node.stop()
        shutil.rmtree(node.workdir, ignore_errors=True)


def test_hash_tags_on_different_nodes_and_wrong_nodes_answer_moved(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    tags = [redis_cluster.tag_on(index) for index in range(3)]
    assert len({key_slot(tag) for tag in tags}) == 3
    for index, tag in enumerate(tags):
        key = f"{{{tag}}}:win"
        assert redis_cluster.node_of(key) == index
        assert redis_cluster.keyslot(key) == key_slot(tag)
        owner = redis_cluster.client(index)
        try:
            assert owner.set(key, f"on {index}")
            assert owner.get(key) == f"on {index}"
        finally:
            owner.close()
        for other in range(3):
            if other != index:
                assert _moved_to(redis_cluster, other, key) == index


def test_reshard_moves_slots_and_the_keys_follow(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    owners = redis_cluster.slot_owners()
    keys = [f"{{r{n}}}:k" for n in range(6000)]
    by_node: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for key in keys:
        by_node[owners[key_slot(key)] or 0].append(key)
    for index, node_keys in by_node.items():
        client = redis_cluster.client(index)
        try:
            pipe = client.pipeline(transaction=False)  # one SET a key: MSET would be CROSSSLOT
            for key in node_keys:
                pipe.set(key, key)
            assert all(pipe.execute())
        finally:
            client.close()

    for source, target in ((0, 1), (1, 0)):  # there and back: the layout is left as found
        before = redis_cluster.slot_owners()
        moved = redis_cluster.reshard(100, source, target)
        after = redis_cluster.slot_owners()
        assert len(moved) == 100
        assert all(before[slot] == source and after[slot] == target for slot in moved)
        assert sum(a != b for a, b in zip(before, after, strict=True)) == 100
        # Every node serves the new map (wait_ready checked they agree; ask one directly).
        third = redis_cluster.client(2)
        try:
            slots = third.execute_command("CLUSTER", "SLOTS")
        finally:
            third.close()
        target_port = redis_cluster.ports[target]
        for slot in moved:
            assert any(lo <= slot <= hi and m[1] == target_port for lo, hi, m, *_ in slots)
        # The keys followed: all of them on their new node, none left on the old one.
        moved_set = set(moved)
        followed = [key for key in keys if key_slot(key) in moved_set]
        assert len(followed) > 5  # 6000 keys over 16384 slots: ~37 in 100 slots
        for index in range(3):
            client = redis_cluster.client(index)
            try:
                mine = [key for key in keys if after[key_slot(key)] == index]
                pipe = client.pipeline(transaction=False)
                for key in mine:
                    pipe.get(key)
                assert pipe.execute() == mine
                assert client.dbsize() == len(mine)
            finally:
                client.close()
        assert _moved_to(redis_cluster, source, followed[0]) == target


def test_a_slot_held_mid_migration_answers_ask(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    tag = redis_cluster.tag_on(0)
    slot = key_slot(tag)
    stays, moves, missing = f"{{{tag}}}:stays", f"{{{tag}}}:moves", f"{{{tag}}}:missing"
    source, target = redis_cluster.client(0), redis_cluster.client(1)
    try:
        source.mset({stays: "s", moves: "m"})
        with redis_cluster.migrating(slot, 0, 1) as migration:
            assert migration.move_keys([moves]) == 1
            assert source.get(stays) == "s"  # not migrated yet: the source still serves it
            for key in (moves, missing):  # gone from the source: ASK the target
                with pytest.raises(AskError) as ask:
                    source.get(key)
                assert type(ask.value) is AskError, "MOVED, not ASK"
                assert (ask.value.slot_id, ask.value.port) == (slot, redis_cluster.ports[1])
            with pytest.raises(MovedError):  # the target still says the slot is the source's
                target.get(moves)
            pipe = target.pipeline(transaction=False)  # ASKING applies to the next command
            pipe.execute_command("ASKING")
            pipe.get(moves)
            assert pipe.execute()[1] == "m"
            assert redis_cluster.slot_owners()[slot] == 0
        # Handed over: the rest of the keys moved, every node says so.
        assert redis_cluster.slot_owners()[slot] == 1
        assert target.mget(stays, moves) == ["s", "m"]
        assert source.dbsize() == 0
        assert _moved_to(redis_cluster, 0, stays) == 1
        assert _moved_to(redis_cluster, 2, stays) == 1
    finally:
        source.close()
        target.close()
    redis_cluster.migrate_slot(slot, 1, 0)  # back where it was
    assert redis_cluster.slot_owners()[slot] == 0


def test_reset_closes_a_migration_left_open(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    slot = key_slot(redis_cluster.tag_on(2))
    SlotMigration(redis_cluster, slot, 2, 0).begin()  # and never finished
    client = redis_cluster.client(2)
    try:
        assert "->-" in client.execute_command("CLUSTER", "NODES")
        redis_cluster.reset()
        assert "->-" not in client.execute_command("CLUSTER", "NODES")
    finally:
        client.close()
    assert redis_cluster.slot_owners()[slot] == 2


def test_a_node_restarted_cleanly_rejoins_with_its_data(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    key = f"{{{redis_cluster.tag_on(2)}}}:kept"
    client = redis_cluster.client(2)
    try:
        client.set(key, "v")
        port, node_id = redis_cluster.ports[2], redis_cluster.node_ids()[2]
        redis_cluster.stop_node(2)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        redis_cluster.start_node(2)
        assert (redis_cluster.ports[2], redis_cluster.node_ids()[2]) == (port, node_id)
        assert all(redis_cluster.cluster_state(index) == "ok" for index in range(3))
        assert client.get(key) == "v"
    finally:
        client.close()


def test_a_crashed_node_fails_the_cluster_and_rejoins_empty(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    own, lost = f"{{{redis_cluster.tag_on(0)}}}:k", f"{{{redis_cluster.tag_on(1)}}}:k"
    clients = [redis_cluster.client(index) for index in range(3)]
    try:
        clients[0].set(own, "a")
        clients[1].set(lost, "b")
        redis_cluster.stop_node(1, keep_data=False, wait_fail=True)
        assert [redis_cluster.cluster_state(i) for i in (0, 2)] == ["fail", "fail"]
        with pytest.raises(ClusterDownError):  # CLUSTERDOWN
            clients[0].get(own)  # a cluster missing slots refuses even the slots it has
        redis_cluster.start_node(1)
        assert all(redis_cluster.cluster_state(index) == "ok" for index in range(3))
        assert clients[0].get(own) == "a"
        assert clients[1].get(lost) is None  # SIGKILL without persistence: its data is gone
        assert redis_cluster.node_of(lost) == 1  # but it serves its slots again
    finally:
        for client in clients:
            client.close()


def test_a_cluster_node_whose_bus_port_is_taken_takes_another() -> None:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server on this machine")
    squatter = RedisServer(binary, aof=False).start()
    node = ClusterNode(binary, bus_port=squatter.port)
    first_port = node.port
    try:
        node.start()
        assert node.bus_port != squatter.port and node.port == first_port
        client = redis.Redis(port=node.port, decode_responses=True)
        try:
            assert node.process is not None
            assert client.info("server")["process_id"] == node.process.pid
            assert client.info("cluster")["cluster_enabled"] == 1
        finally:
            client.close()
    finally:
        node.stop()
        squatter.stop()
        shutil.rmtree(node.workdir, ignore_errors=True)
        shutil.rmtree(squatter.workdir, ignore_errors=True)
