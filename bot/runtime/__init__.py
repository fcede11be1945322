"""The process: settings, logging, the HTTP front and the Slack WSGI app it serves, the Web API
transport, the request-shape checks that run before Bolt, the Bolt app and the `pm-coach` CLI —
the composition root that builds the store, the coach, the handlers and the scheduled work and
wires them together. It may import everything below it; nothing imports it except the sandbox
(which runs the same runtime against the fake Slack) and `bot.__main__`.
"""
