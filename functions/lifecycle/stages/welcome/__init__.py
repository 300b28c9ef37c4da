"""Welcome: a new customer gets a welcome email, and an SMS if they gave a phone number."""
