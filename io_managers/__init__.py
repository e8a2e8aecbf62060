"""IO managers: hive-partitioned Parquet."""
