"""Errors of the storage floor: encrypted stores and their key files.

The tree (under ``verifier.errors.SehatError``)::

    StoreError             an encrypted store or its key cannot be used
    ├── StoreMissingError  no store where one was expected (never silently created)
    ├── StoreExistsError   a store already exists where a new one was asked for
    ├── WrongKeyError      the key does not open the store
    └── KeyFileError       the key file is missing, malformed or readable by others
"""

from __future__ import annotations

from verifier.errors import SehatError


class StoreError(SehatError):
    code = "store_error"


class StoreMissingError(StoreError):
    code = "store_missing"


class StoreExistsError(StoreError):
    code = "store_exists"


class WrongKeyError(StoreError):
    code = "wrong_key"


class KeyFileError(StoreError):
    code = "key_file"
