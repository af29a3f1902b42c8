"""Declared table schemas and the one Parquet reader/writer every stage uses."""

from cardiolens.tables.parquet import read_provenance, read_table, write_table
from cardiolens.tables.schema import Column, TableError, TableSchema

__all__ = ["Column", "TableError", "TableSchema", "read_provenance", "read_table", "write_table"]
