"""Omnichannel: one customer, every channel, one system."""

__version__ = "0.1.0"
