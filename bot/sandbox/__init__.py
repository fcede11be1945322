"""`pm-coach sandbox`: the real Bolt app and runtime against the built-in fake Slack and an
embedded store, driven from a terminal (`session`) and shown as text (`render`). It imports the
runtime and the fake Slack; the product never imports it, except the CLI's `sandbox` command.
"""

from bot.sandbox.session import main

__all__ = ["main"]
