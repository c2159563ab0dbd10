"""Events: sources and their write keys, Segment-spec ingestion, the append-only event log."""
