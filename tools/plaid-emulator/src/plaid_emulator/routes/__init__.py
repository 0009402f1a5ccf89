"""Plaid API endpoints: one module per area, each exposing ROUTES = {path: Route}."""
