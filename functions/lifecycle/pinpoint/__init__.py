"""Moving from Amazon Pinpoint: `lifecycle import pinpoint` carries an application's endpoints
and opt-outs (from an export job's files), its message templates (from GetEmailTemplate and
GetSmsTemplate responses) and its campaign and journey settings into this product, with a dry
run first and a report of everything that could not be carried. CLI only: never deployed.
"""
