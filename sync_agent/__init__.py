"""The sync agent: brings a box's replica up to date from signed feeds or offline bundles."""
