"""`python -m bot` is `pm-coach`."""

from bot.runtime.cli import main

raise SystemExit(main())
