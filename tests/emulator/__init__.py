"""Local stand-ins for real exchanges, so the unmodified ccxt client can be tested without a network."""
