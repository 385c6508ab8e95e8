"""Selection on observables (backdoor adjustment)."""
