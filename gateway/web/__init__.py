"""HTTP: the agent and ops API, health, and the plumbing every route shares."""
