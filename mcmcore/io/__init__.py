"""Readers and writers of graphs and placements."""
from mcmcore.io.native import load_graph, save_graph

__all__ = ["load_graph", "save_graph"]
