"""The pure trading engine shared by paper trading, backtests and (later) live trading. No Django."""
