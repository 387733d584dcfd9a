"""Annotation records into labels: validation, aggregation, agreement, quality."""
