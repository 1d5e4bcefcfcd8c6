"""Pacing policies: the baselines and Recobro's predictive policy."""
