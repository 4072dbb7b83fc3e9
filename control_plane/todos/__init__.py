"""A run's todo list (the agent's plan): every version kept, the latest served, changes streamed."""
