"""ledger-api's handlers: one module per family of commands or events, taking what bootstrap() wired.

projections              the consumer's batch handler: every stream into the ledger's tables
transaction_projection   TransactionCategorized -> transactions (+ changes)
item_projection          Items, accounts, balances, sync runs (+ changes)
"""
