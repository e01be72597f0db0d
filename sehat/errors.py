"""Errors of the shell around the core: stores, key files and operator mistakes.

The tree (under ``verifier.errors.SehatError``)::

    OperatorError          something the operator asked for cannot be done as asked
    StoreError             an encrypted store or its key cannot be used
    ├── StoreMissingError  no store where one was expected (never silently created)
    ├── StoreExistsError   a store already exists where a new one was asked for
    ├── WrongKeyError      the key does not open the store
    └── KeyFileError       the key file is missing, malformed or readable by others
"""

from __future__ import annotations

from verifier.errors import SehatError


class OperatorError(SehatError):
    code = "operator_error"


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
