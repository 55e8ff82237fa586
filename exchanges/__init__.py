"""The ccxt adapter: the one door to every exchange (public market data and private trading).

A low layer with no Django models: keys (credential tests) and trading (prices, markets, live
orders) both call it; it imports only config.
"""
