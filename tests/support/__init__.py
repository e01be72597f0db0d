"""Shared test machinery: registries on demand and a reference feed reader."""
