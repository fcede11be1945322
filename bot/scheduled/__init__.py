"""Work that runs on a clock rather than on a request: the tick that claims due nudges from the
shared index and sends them within the workspace's rate budget (`ticker`), the weekly team recap
(`recaps`), and the duties the APScheduler loop runs (`jobs`, `scheduler`). It uses the store,
the domain and the surfaces, and a slack-sdk `WebClient` it is given; nothing here imports the
runtime or the handlers.
"""
