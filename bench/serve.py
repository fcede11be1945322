"""`python -m bench.serve prod|bare_default|bare_pbr --port N --redis URL --fake URL`: one server
under test, in a process of its own (so the load generator does not share its GIL).

All three are served the same way: `bot.runtime.server.make_server(wsgi_app(app, ...))` (the asyncio
front, the same worker thread count) on 127.0.0.1, with a listener executor of the same size.

* `prod`: the production app exactly as `pm-coach run` wires it — `build_runtime(settings)`,
  `create_app(settings, deps, background=..., verified_upstream=True)` (listeners on the request
  thread, work after the ack on the background executor, signatures checked once, on the raw
  bytes), JSON logs at INFO, the heartbeat and minute tick on the local scheduler.
* `bare_default`: a bare Bolt app whose `/win` handler writes one Redis key and acks, in Bolt's
  default ack mode (the listener runs in the executor; dispatch polls for the ack every 10 ms).
* `bare_pbr`: the same bare app with `process_before_response=True` (the listener runs on the
  request thread).

Prints `READY {"port": N}` when serving; stops on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from bench.infra import BOT_TOKEN, SIGNING_SECRET, settings_for
from bot.fakeslack import drop_proxies

SERVER_THREADS = 16  # make_server's default, as `pm-coach run` uses it
LISTENER_THREADS = 16  # `pm-coach run`'s listener executor
MAX_LIFETIME_S = 1800.0


def bare_app(redis_url: str, fake_url: str, *, pbr: bool, executor: ThreadPoolExecutor) -> Any:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.store import connect

    rds = connect(redis_url)
    app = App(
        client=WebClient(token=BOT_TOKEN, base_url=fake_url),
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        process_before_response=pbr,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("slack_bolt"),
        listener_executor=executor,
    )

    @app.command("/win")
    def win(ack: Ack, command: dict[str, Any]) -> None:
        rds.set(f"bench:win:{command.get('trigger_id')}", command.get("text") or "", ex=3600)
        ack(text="Logged")

    def healthy() -> dict[str, Any]:
        return {"ok": True}

    return app, healthy, rds


def main() -> int:
    drop_proxies()
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["prod", "bare_default", "bare_pbr"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--fake", required=True, help="the fake Slack's Web API base URL")
    parser.add_argument("--log", default="", help="log file (default: discard)")
    args = parser.parse_args()

    from bot.runtime.app import create_app
    from bot.runtime.compose import build_runtime, form_executor, healthy, utc_now
    from bot.runtime.logs import SERVER_FLUSH_S, configure_logging
    from bot.runtime.server import make_server
    from bot.runtime.slackwsgi import unsigned_early, wsgi_app
    from bot.scheduled import jobs
    from bot.scheduled.scheduler import build_scheduler

    # INFO, as in production; BENCH_LOG_LEVEL lets `bench.ab` compare another level.
    level = os.environ.get("BENCH_LOG_LEVEL", "INFO")
    settings = settings_for(args.fake, args.redis).model_copy(update={"log_level": level})
    # BENCH_LOG_TO=null lets `bench.ab` compare a server whose lines go nowhere.
    path = args.log if args.log and os.environ.get("BENCH_LOG_TO") != "null" else "/dev/null"
    stream = Path(path).open("a", encoding="utf-8")  # noqa: SIM115
    configure_logging(
        settings.log_level,
        "json",
        settings.secret_values(),
        stream=stream,
        flush_interval=SERVER_FLUSH_S,  # as `pm-coach run`
    )
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener")
    scheduler = None
    if args.mode == "prod":
        runtime = build_runtime(settings)
        forms = form_executor()  # as `pm-coach run`
        app = create_app(
            settings, runtime.deps, background=executor, forms=forms, verified_upstream=True
        )
        health = partial(healthy, runtime.store)
        log = runtime.deps.log
        scheduler = build_scheduler(
            [
                ("heartbeat", partial(jobs.heartbeat, runtime.store, "bench", utc_now, log), 30.0),
                ("tick", partial(jobs.tick, runtime.ticker, runtime.recaps, utc_now, log), 60.0),
            ]
        )
    else:
        app, health, _ = bare_app(
            args.redis, args.fake, pbr=args.mode == "bare_pbr", executor=executor
        )
    # The production app is served as `pm-coach run` serves it: signatures checked on the raw
    # bytes before Bolt parses them (Bolt does not check again). The bare apps rely on Bolt alone.
    secret = SIGNING_SECRET if args.mode == "prod" else None
    server = make_server(
        wsgi_app(app, health, secret),
        "127.0.0.1",
        args.port,
        threads=SERVER_THREADS,
        early=unsigned_early if secret else None,
    )
    server.prepare()
    thread = threading.Thread(target=server.serve, name="http", daemon=True)
    thread.start()
    if scheduler is not None:
        scheduler.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("READY " + json.dumps({"port": server.bind_addr[1]}), flush=True)
    stop.wait(MAX_LIFETIME_S)
    server.stop()
    thread.join(timeout=15)
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    executor.shutdown(wait=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
