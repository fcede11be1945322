"""The process: settings, logging, the HTTP front and the Slack WSGI app it serves, the Web API
transport, the request-shape checks that run before Bolt, the Bolt app, the composition root
(`compose`: builds the store, the coach, the handlers and the scheduled work and wires them
together) and the `pm-coach` CLI on top of it. It may import everything below it; within the
product only the sandbox (which runs the same composition against the fake Slack) and
`bot.__main__` import it.
"""
