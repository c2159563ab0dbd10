"""Profiles: the unified view of a customer: traits, consents, computed basics, timeline, GDPR."""
