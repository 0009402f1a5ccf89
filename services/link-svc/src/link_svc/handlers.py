"""link-svc's handlers: one function per command or event, taking what bootstrap() wired.

Plaid Link, Items and webhooks: the HTTP API in front of Plaid. Nothing yet: this service only starts,
answers its probes and stops.
"""
