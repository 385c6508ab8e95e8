"""Panel matching on treatment histories (Imai, Kim & Wang 2021)."""
