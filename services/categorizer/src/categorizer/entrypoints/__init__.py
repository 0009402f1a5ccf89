"""How categorizer is driven from outside: its HTTP app and its process main."""
