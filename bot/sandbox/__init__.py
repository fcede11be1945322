"""`pm-coach sandbox`: the real Bolt app and runtime against the built-in fake Slack and an
embedded store, driven from a terminal and shown as text. `session` is the terminal loop and its
commands; `workspace` the sample team, its simulated clock and the demo history; `forms` the
open form as Slack would hold it; `screen` what the person sees; `render` (with `elements` and
`text`) draws Block Kit as terminal text. It imports the runtime's composition and app factory,
the domain and the fake Slack; the product never imports it, except the CLI's `sandbox` command.
"""

from bot.sandbox.session import main

__all__ = ["main"]
