"""How categorizer talks to PostgreSQL: store.py (items, transactions), knowledge.py (rules, overrides,
learning), jobs.py (re-categorization jobs). SQL is built from constants only, never from input."""
