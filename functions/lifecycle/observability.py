"""The one structured logger every module writes to.

Its service name comes from POWERTOOLS_SERVICE_NAME, which the template sets per function. One
shared instance (rather than child loggers) means a line is never lost because a module was
imported before the handler configured its logger.
"""

from aws_lambda_powertools import Logger

logger = Logger()
