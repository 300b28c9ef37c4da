"""The two kinds of error every stage handles the same way.

Permanent errors are never retried: the dispatcher records them with their reason in the ledger
and counts them. Transient errors propagate, so the trigger redelivers the record; after bounded
retries it lands in a dead-letter queue that has an alarm.
"""


class PermanentError(Exception):
    """Retrying cannot help: bad data, a broken template, a rejected address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(Exception):
    """Retrying may help: throttling, a 5xx, a timeout.

    `ambiguous` means the provider may have accepted the message before the error (a timeout
    after the request was sent, a 5xx): the claim is then kept until its lease runs out rather
    than released, so an immediate retry cannot send it a second time.
    """

    def __init__(self, reason: str, *, ambiguous: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ambiguous = ambiguous


class RenderError(PermanentError):
    """A template could not be rendered; names the template and, where known, the variable."""

    def __init__(self, template: str, problem: str, variable: str | None = None) -> None:
        detail = f"template {template}: {problem}"
        super().__init__(detail)
        self.template = template
        self.variable = variable
        self.problem = problem
