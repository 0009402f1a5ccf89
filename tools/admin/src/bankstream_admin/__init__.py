"""The operator CLI `bankstream` (see cli.py)."""
