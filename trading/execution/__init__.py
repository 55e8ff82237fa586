"""Execution: where decisions become orders. Venues (paper, later live) behind one protocol, the one order
writer, the order state table, and safety (emergency stop, halts, breakers). The pure modules here (types,
venue, paper, states) import no Django; see docs/architecture.md."""
