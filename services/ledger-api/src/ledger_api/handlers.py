"""ledger-api's handlers: one function per command or event, taking what bootstrap() wired.

Read models in PostgreSQL and the HTTP API over them. Nothing yet: this service only starts, answers its
probes and stops.
"""
