"""Network interference: edge-table input, exposure mappings, ``network_exposure``."""
