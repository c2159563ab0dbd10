"""Shared machinery every module stands on: database, clock, ids, pagination, outbox, bus."""
