"""Pipelines: a YAML config of registered stages, run by a local or a Ray runner."""
