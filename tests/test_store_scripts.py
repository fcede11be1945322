"""The Lua scripts as package data: each file says what it takes and guarantees, each compiles
on Redis, and `bot.store.lua` names every one of them."""

from __future__ import annotations

from importlib import resources

import pytest
import redis

import bot.store.lua as lua

SCRIPTS = sorted(
    p.name.removesuffix(".lua")
    for p in resources.files("bot.store").joinpath("scripts").iterdir()
    if p.name.endswith(".lua")
)


def test_every_script_file_is_named_in_the_lua_module() -> None:
    named = {name.lower() for name in dir(lua) if name.isupper()}
    assert set(SCRIPTS) == named
    for name in SCRIPTS:
        assert getattr(lua, name.upper()) == lua.load(name)


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_opens_with_its_contract(name: str) -> None:
    header = [line for line in lua.load(name).splitlines() if line.startswith("--")][:8]
    text = "\n".join(header)
    for part in ("KEYS:", "ARGV:", "Returns:", "Guarantees:"):
        assert part in text, f"{name}.lua's header lacks {part}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_compiles_on_redis(name: str, rds: redis.Redis) -> None:
    sha = rds.script_load(lua.load(name))
    assert rds.script_exists(sha) == [True]
