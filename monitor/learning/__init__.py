"""Learning from the team: training data, the promotion gate, training runs and hyper-parameter tuning."""
