"""`pm-coach`: the command line — `run`, `check`, `tick`, `recap` and `sandbox`. The only place
that reads Settings() from the environment and starts threads; the runtime it serves is built
by `bot.runtime.compose`. `cmd_run` reads like a table of contents:
settings → logging → runtime → app → scheduler → serve.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.weeks import parse_week, shift_week, week_of
from bot.runtime.app import create_app
from bot.runtime.compose import build_runtime, form_executor, healthy, utc_now
from bot.runtime.logs import SERVER_FLUSH_S, configure_logging, flush_logs, get_logger
from bot.runtime.server import make_server, raise_fd_limit
from bot.runtime.settings import Settings, describe_error
from bot.runtime.slackwsgi import unsigned_early, wsgi_app
from bot.scheduled import jobs
from bot.scheduled.scheduler import build_scheduler
from bot.store import CAUSES, Store, unavailable_cause
from bot.surfaces.recap import as_text

EXIT_CONFIG = 2
TICK_SECONDS = 60.0


def load_settings() -> Settings:
    """Settings from the environment and `.env`, or exit with one line naming the problem."""
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the environment
    except Exception as exc:
        print(f"pm-coach: {describe_error(exc)}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def safe_url(url: str) -> str:
    """A Redis URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# Commands -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(
        settings.log_level,
        settings.log_format,
        settings.secret_values(),
        flush_interval=SERVER_FLUSH_S,
    )
    log = get_logger("pm_coach")
    runtime = build_runtime(settings)
    # Work listeners do after answering Slack (respond, the Home, welcome DMs, exports), and
    # a pool of its own for opening forms, whose trigger_id lasts 3 s.
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="after-ack")
    forms = form_executor()
    # HTTP mode serves through wsgi_app with the signing secret (settings require it there),
    # which checks every signature before Bolt sees the request; Socket Mode needs none.
    app = create_app(
        settings, runtime.deps, background=executor, forms=forms, verified_upstream=True
    )
    process_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    scheduler = build_scheduler(
        [
            ("heartbeat", partial(jobs.heartbeat, runtime.store, process_id, utc_now, log), 30.0),
            (
                "tick",
                partial(jobs.tick, runtime.ticker, runtime.recaps, utc_now, log),
                TICK_SECONDS,
            ),
        ]
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    jobs.heartbeat(runtime.store, process_id, utc_now, log)
    try:
        if settings.socket_mode:
            serve_socket_mode(app, settings, stop, log)
        else:
            serve_http(app, runtime.store, settings, stop, log)
    finally:
        scheduler.shutdown(wait=True)
        forms.shutdown(wait=True)  # work acknowledged to Slack finishes before we exit
        executor.shutdown(wait=True)
        runtime.close()
        log.info("stopped")
        flush_logs()
    return 0


def serve_http(app: App, store: Store, settings: Settings, stop: threading.Event, log: Any) -> None:
    secret = settings.slack_signing_secret
    application = wsgi_app(
        app, partial(healthy, store), secret.get_secret_value() if secret else None
    )
    server = make_server(
        application,
        "0.0.0.0",  # noqa: S104
        settings.port,
        early=unsigned_early if secret else None,
    )
    server.prepare()
    open_files = raise_fd_limit()  # every client, slow ones included, holds a socket
    thread = threading.Thread(target=server.serve, name="http", daemon=True)
    thread.start()
    log.info(
        "serving_http",
        port=server.bind_addr[1],
        events="/slack/events",
        health="/healthz",
        open_files=open_files,
    )
    stop.wait()
    server.stop()  # stops accepting; in-flight requests finish (shutdown_timeout)
    thread.join(timeout=15)


def serve_socket_mode(app: App, settings: Settings, stop: threading.Event, log: Any) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert settings.slack_app_token is not None
    handler = SocketModeHandler(app, app_token=settings.slack_app_token.get_secret_value())
    handler.connect()  # type: ignore[no-untyped-call]
    log.info("serving_socket_mode")
    stop.wait()
    handler.close()  # type: ignore[no-untyped-call]


def cluster_shape(store: Store) -> str:
    """ "cluster of N primaries: host:port, …; " on a Redis Cluster (from the client's slot
    map: no round trip), else ""."""
    if not store.is_cluster:
        return ""
    nodes = store.nodes()
    return f"cluster of {len(nodes)} primaries: {', '.join(nodes)}; "


def unreachable_primaries(store: Store) -> list[str]:
    """On a Redis Cluster, the primaries ("host:port") that do not answer a PING of their own;
    [] on a single Redis."""
    if not isinstance(store.redis, RedisCluster):
        return []
    down = []
    for node in store.redis.get_primaries():  # type: ignore[no-untyped-call]
        try:
            node.redis_connection.ping()
        except redis.RedisError:
            down.append(node.name)
    return sorted(down)


def cmd_check(args: argparse.Namespace) -> int:
    """Print whether config, Redis and Slack are fine; non-zero if any is not."""
    settings = load_settings()
    configure_logging("WARNING", settings.log_format, settings.secret_values())
    mode = "Socket Mode" if settings.socket_mode else f"HTTP on port {settings.port}"
    placeholders = settings.placeholders()  # valid in shape, copied from .env.example
    if placeholders:
        names = ", ".join(placeholders)
        print(f"config: FAILED (placeholder value in {names}: use the real one from Slack)")
    else:
        print(f"config: ok ({mode})")
    failures = 1 if placeholders else 0
    runtime = build_runtime(settings)
    try:
        runtime.redis.ping()
        cause = runtime.store.health()  # reachable, but does it take writes?
        alive = runtime.store.teams.live_processes(utc_now())
        backlog = runtime.store.nudges.backlog(utc_now())
        shape = cluster_shape(runtime.store)
        if cause == "ok":
            print(
                f"redis:  ok ({safe_url(settings.redis_url)}; {shape}{alive} live pm-coach "
                f"process(es), {backlog} nudge(s) due and not yet sent)"
            )
        else:  # OOM, a read-only replica, a cluster node redirecting: name it
            failures += 1
            print(f"redis:  FAILED ({safe_url(settings.redis_url)}: {shape}{CAUSES[cause]})")
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        failures += 1
        cause = unavailable_cause(exc)
        reason = CAUSES[cause] if cause != "error" else type(exc).__name__
        down = unreachable_primaries(runtime.store)
        if down:  # on a cluster: which node
            reason = f"{', '.join(down)} {CAUSES['unreachable']}"
        shape = cluster_shape(runtime.store)
        print(f"redis:  FAILED ({safe_url(settings.redis_url)}: {shape}{reason})")
    try:
        auth = runtime.client.auth_test()
        print(f"slack:  ok (team {auth.get('team')}, bot {auth.get('user')})")
    except SlackApiError as exc:
        failures += 1
        print(f"slack:  FAILED (auth.test: {exc.response.get('error')})")
    except (SlackClientError, OSError) as exc:
        failures += 1
        print(f"slack:  FAILED (cannot reach {settings.slack_api_base_url}: {type(exc).__name__})")
    runtime.close()
    return 1 if failures else 0


def parse_instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {text!r}") from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-11-27T15:00:00+01:00 or Z")
    return instant.astimezone(UTC)


def cmd_tick(args: argparse.Namespace) -> int:
    """Run everything due at `--at` once and print what happened."""
    settings = load_settings()
    configure_logging("WARNING", settings.log_format, settings.secret_values())
    runtime = build_runtime(settings)
    try:
        report = runtime.ticker.tick(args.at)
        recaps = runtime.recaps.run_due(args.at)
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        print(f"tick: Redis unavailable ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    for line in report.lines():
        print(line)
    for outcome in recaps:
        print(f"recap    {outcome.team_id} {outcome.week} — {outcome.status}")
    return 0


def cmd_recap(args: argparse.Namespace) -> int:
    """Print a team's recap as text (--dry-run) or post it now (once per week)."""
    settings = load_settings()
    configure_logging("WARNING", settings.log_format, settings.secret_values())
    runtime = build_runtime(settings)
    try:
        schedule = runtime.recaps.schedule(args.team)
        if schedule is None and not args.dry_run:
            print(
                f"recap: team {args.team} has no recap channel (/coach recap here)", file=sys.stderr
            )
            return 1
        week = args.week or (
            schedule.week_for(utc_now()) if schedule else shift_week(week_of(utc_now(), "UTC"), -1)
        )
        if args.dry_run:
            channel = schedule.channel if schedule else (args.channel or "")
            if not channel:
                print("recap: no channel to read members from; give --channel", file=sys.stderr)
                return 1
            print(as_text(runtime.recaps.build(args.team, week, channel)), end="")
            return 0
        outcome = runtime.recaps.post(args.team, week, force=args.force)
        print(f"recap {args.team} {week}: {outcome.status}")
        return 0 if outcome.status in ("posted", "thread_posted", "already_posted") else 1
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        print(f"recap: Redis unavailable ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        runtime.close()


def cmd_sandbox(args: argparse.Namespace) -> int:
    """The product in a terminal: a local fake Slack, an embedded store, a simulated clock."""
    from bot import sandbox

    configure_logging("WARNING", "console", [], stream=sys.stderr)
    return sandbox.main(demo=args.demo, script=args.script)


def parse_week_arg(text: str) -> str:
    try:
        parse_week(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO week like 2026-W47: {text!r}") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pm-coach", description="PM Coach, a Slack bot for PMs.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="serve Slack (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    sub.add_parser("check", help="check config, Redis and Slack; non-zero exit if any fails")
    tick = sub.add_parser("tick", help="run the scheduled duties due at an instant, once")
    tick.add_argument(
        "--at", type=parse_instant, default=None, help="ISO-8601 instant with zone (default: now)"
    )
    box = sub.add_parser("sandbox", help="try PM Coach in a terminal: no Slack, no Redis needed")
    box.add_argument("--demo", action="store_true", help="start with twelve weeks of history")
    box.add_argument("--script", metavar="FILE", help="run FILE's lines, print the transcript")
    recap = sub.add_parser("recap", help="print a team's weekly recap, or post it now")
    recap.add_argument("--team", required=True, help="Slack team id, e.g. T0123")
    recap.add_argument(
        "--week",
        type=parse_week_arg,
        help="ISO week, e.g. 2026-W47 (default: the week before this one)",
    )
    recap.add_argument("--dry-run", action="store_true", help="print it, post nothing")
    recap.add_argument(
        "--force", action="store_true", help="post even if this week's recap was already posted"
    )
    recap.add_argument("--channel", help="with --dry-run and no recap channel: read this one")
    return parser


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "tick": cmd_tick,
    "recap": cmd_recap,
    "sandbox": cmd_sandbox,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "at", "") is None:
        args.at = utc_now()
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
