"""Network interference: edge-table input, exposure mappings and the ``network_exposure`` estimator."""
