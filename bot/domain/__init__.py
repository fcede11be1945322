"""The coaching model, pure: lanes and win parsing, ISO weeks in a PM's zone, streaks and
balance, prompts, nudge times and their plan, the export's brag document and the recap's
content. No I/O and no clock: every instant is passed in, so each rule is a plain function a test
can call. It imports only the standard library, `tzdata` and its own modules — never the store,
Slack or anything above it.
"""
