"""`python -m bot` is `pm-coach`."""

from bot.cli import main

raise SystemExit(main())
