"""REST + Server-Sent Events in front of the ccplane gRPC services.

Routes, request/response mapping and the OpenAPI document all come from the
``google.api.http`` rules in the descriptor set, the input Envoy's
transcoder (``deploy/envoy``) reads too.
"""

from gateway.server import Gateway

__all__ = ["Gateway"]
