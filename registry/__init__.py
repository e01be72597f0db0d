"""The reference central registry: issues codes, records changes, publishes the signed feed."""
