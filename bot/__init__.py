"""PM Coach: a Slack bot that coaches product managers from execution toward strategic work."""
