"""Wire layer: transport, authentication, accounts, endpoints and wire errors.

Nothing here imports Qiskit; this package only speaks HTTP and JSON.
"""

from .accounts import (
    Account,
    AccountError,
    AccountNotFoundError,
    delete_account,
    save_account,
    saved_accounts,
)
from .auth import BearerTokenAuthenticator, IAMAuthenticator
from .client import RuntimeRestClient
from .errors import (
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    QiskitRestError,
    RateLimitError,
    RedirectError,
    ServerError,
)
from .transport import RetryPolicy, Timeouts, Transport

__all__ = [
    "Account",
    "AccountError",
    "AccountNotFoundError",
    "AmbiguousSubmissionError",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BearerTokenAuthenticator",
    "ConflictError",
    "ForbiddenError",
    "IAMAuthenticator",
    "NotFoundError",
    "QiskitRestError",
    "RateLimitError",
    "RedirectError",
    "RetryPolicy",
    "RuntimeRestClient",
    "ServerError",
    "Timeouts",
    "Transport",
    "delete_account",
    "save_account",
    "saved_accounts",
]
