"""The use cases shared by the API, the web screen and the command line: the one way in."""

from postback.service.usecases import Service

__all__ = ["Service"]
