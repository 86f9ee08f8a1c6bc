"""What the commands do, composed from sources, analysis, remediation and the store."""
