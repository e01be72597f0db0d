"""The box: the encrypted replica, and (in later parts) the web app that answers from it."""
