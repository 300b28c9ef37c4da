"""Feedback: the request after delivery, the rating endpoint and what a rating leads to."""
