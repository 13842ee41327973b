"""Outputs: the classic CSVs, nodes and edges, Parquet, GraphML, GEXF; every write atomic."""
