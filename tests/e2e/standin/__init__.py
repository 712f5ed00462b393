"""A local stand-in for Discord (REST API v10 + gateway) that the real discord.py client can talk to."""

from .commands import AttachmentUpload
from .faults import RateLimitRule
from .records import GatewayClose, GatewayFrame, InteractionRecord, MessageRecord, RestCall, UploadedFile
from .server import StandIn

__all__ = [
    "AttachmentUpload",
    "GatewayClose",
    "GatewayFrame",
    "InteractionRecord",
    "MessageRecord",
    "RateLimitRule",
    "RestCall",
    "StandIn",
    "UploadedFile",
]
