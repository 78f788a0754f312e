"""Inbound adapters for real providers (Stripe, AfterShip): verify as they sign, translate into our commands."""
