"""impactbook: evaluation report workbook for community violence interventions."""

__version__ = "0.1.0"
