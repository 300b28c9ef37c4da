"""Customer profiles and lifecycle stages, kept from the Orders stream."""
