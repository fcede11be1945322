"""What a PM and their team see in Slack: every line of copy (`texts`), the Block Kit builders
for replies, modals, nudges, the App Home and the recap, and the escaping that keeps user text
from pinging anyone. Pure functions of domain values; imports `bot.domain` only.
"""
