"""Webhooks: what Plaid sends, how it signs them, how it delivers them."""
