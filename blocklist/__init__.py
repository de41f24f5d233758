"""Screening rules and the Redis data model behind them. No Flask in here."""
