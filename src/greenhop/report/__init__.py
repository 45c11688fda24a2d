"""Plots and reports: what happened, as numbers and pictures."""
