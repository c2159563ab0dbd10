"""Auth: API tokens with roles, and the request dependencies that check them."""
