"""Deterministic bank data: the PFC taxonomy, a merchant catalogue, accounts and transaction generation."""
