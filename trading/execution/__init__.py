"""Execution: orders go from the engine's plan to a venue (paper now, live later) and back. Pure modules
here (types, venue, paper, states) import no Django."""
