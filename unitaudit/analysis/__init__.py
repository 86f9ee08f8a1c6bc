"""Pure analysis: evidence folded from sightings, detectors, the diagnosis of causes, churn."""
