"""Enriching stored items: the pipeline (embed, classify, group), alert rules and burst detection."""
