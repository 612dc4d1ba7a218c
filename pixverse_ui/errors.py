"""One hierarchy of errors. Each says what happened and what to do, in a sentence a person reads.

Every error carries the generation id and the client request id where they are known, so a job is
never lost behind an exception. No error text ever holds the API key: the client redacts it.
"""

from __future__ import annotations


class PixVerseError(Exception):
    """Root of every error this package raises."""

    #: What the person can do about it; subclasses set a default.
    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        generation_id: str | None = None,
        client_request_id: str | None = None,
        status_code: int | None = None,
        provider_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.generation_id = generation_id
        self.client_request_id = client_request_id
        self.status_code = status_code
        self.provider_message = provider_message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message

    @property
    def user_message(self) -> str:
        """The whole sentence for a person: what happened, the provider's words, what to do."""
        parts = [_ended(self.message)]
        if self.provider_message and self.provider_message not in self.message:
            said = self.provider_message.strip()  # its own stop ends the sentence: “Bad.”
            parts.append(
                f"The API said: “{said}”" + ("" if said.endswith((".", "!", "?")) else ".")
            )
        if self.generation_id:
            parts.append(f"Generation id: {self.generation_id}.")
        elif self.client_request_id:
            parts.append(f"Client request id: {self.client_request_id}.")
        if self.hint:
            parts.append(self.hint)
        return " ".join(parts)


def _ended(text: str) -> str:
    """``text`` ending as a sentence does, with one stop (its own ``!`` or ``?``, else ``.``)."""
    text = text.strip().rstrip(".")
    return text if text.endswith(("!", "?")) else text + "."


class ValidationError(PixVerseError, ValueError):
    """Bad input, caught before any request is sent."""

    hint = "Nothing was sent and nothing was charged."

    def __init__(self, message: str, *, field: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.field = field


class BudgetError(ValidationError):
    """A start that would take today's spending over the daily limit (``budget.py``)."""

    hint = "Nothing was sent and nothing was charged."


class TooManyStartsError(ValidationError):
    """A client over its rate on a shared key: too many running or started this minute
    (``ratelimit.py``). ``retry_after``: seconds until a start fits, when that is known."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class APIError(PixVerseError):
    """The API answered with an HTTP error."""


class BadRequestError(APIError):
    """400/404/422: the API refused the request as it was."""

    hint = "Change the request and try again."


class AuthenticationError(APIError):
    """401: the key is missing, wrong or revoked."""

    hint = "Check your AI/ML API key (AIMLAPI_KEY, or the key field on the page)."


class InsufficientCreditsError(APIError):
    """403: out of credits, or the key may not use this model."""

    hint = "Top up your AI/ML API credits, or check that your key may use PixVerse."


class RateLimitError(APIError):
    """429: a rate or concurrency limit."""

    hint = "Wait a little and try again, or run fewer generations at once."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        if retry_after is not None:
            self.hint = f"Wait {retry_after:.0f} s and try again, or run fewer generations at once."


class ServerError(APIError):
    """5xx, or an answer that could not be read."""

    hint = "The API is having trouble; try again in a minute."


class APIConnectionError(PixVerseError):
    """No answer: the connection failed, was dropped or timed out."""

    hint = "Check the network connection and try again."


class SubmissionUnconfirmedError(PixVerseError):
    """The create request was sent but its answer was lost: a paid job may exist.

    The request is never repeated on its own. Its client request id is in the ledger and in the
    provider's usage log, so the job can be found again.
    """

    hint = (
        "It may have started a paid generation, so it was not sent again. Look for the client "
        "request id in your AI/ML API usage log before trying again."
    )


class GenerationFailedError(PixVerseError):
    """The provider finished the job with a failure status."""

    hint = "Nothing to download. Try a different prompt or settings."


class GenerationTimeoutError(PixVerseError):
    """Our deadline passed while the job was still running. The job is kept and can be resumed."""

    def __init__(self, message: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        gid = self.generation_id or "ID"
        self.hint = (
            "The job was not cancelled and is still in the ledger: resume it with "
            f"`pixverse-ui resume {gid}` or `pixverse_ui.resume('{gid}')`."
        )


class WaitTimeoutError(GenerationTimeoutError):
    """A wait for a job (``Job.wait(timeout=)``, ``Job.updates(timeout=)``) ran out of time: the
    job goes on, still watched, and can be waited for again."""

    def __init__(self, message: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)
        gid = self.generation_id or "ID"
        self.hint = (
            "The job goes on and is still watched: wait for it again, or later with "
            f"`pixverse_ui.job('{gid}').wait()` or `pixverse-ui resume {gid}`."
        )


class DownloadError(PixVerseError):
    """The finished video could not be fetched or was refused (scheme, size, expiry)."""

    hint = "The job is kept in the ledger; `pixverse-ui resume` fetches the video again."

    def __init__(self, message: str, *, retryable: bool = False, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        #: Worth another try with a fresh link (expired or interrupted), unlike a refusal.
        self.retryable = retryable


class PosterError(PixVerseError):
    """A still frame could not be taken from a video (missing, empty or not a video)."""

    hint = "The video itself is kept as it is; nothing was sent."


class ExportError(PixVerseError):
    """A job could not be exported (no video yet, the file is gone, its request is unknown)."""

    hint = "Nothing was written."


#: Errors worth polling through: the job is still out there.
TRANSIENT_ERRORS = (APIConnectionError, ServerError, RateLimitError)
