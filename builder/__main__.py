"""`python -m builder`: the command line."""

from builder.cli.main import main

raise SystemExit(main())
