"""Research API client: token manager, endpoints, typed outcomes."""
