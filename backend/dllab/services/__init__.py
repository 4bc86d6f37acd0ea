"""Use cases. Each owns its transaction and sends agent commands only after commit."""
