"""Wire messages shared by the browser and the server, and their JSON codec. No I/O here."""

from .codec import decode, encode
from .messages import MESSAGE_TYPES, PROTOCOL_VERSION, Message

__all__ = ["MESSAGE_TYPES", "PROTOCOL_VERSION", "Message", "decode", "encode"]
