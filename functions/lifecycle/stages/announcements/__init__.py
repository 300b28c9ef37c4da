"""The announcement stage: reviewed campaigns to a segment of customers and prospects."""
