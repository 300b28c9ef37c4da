"""Subscribers: the preference centre, SES bounces and complaints, SMS STOP and START."""
