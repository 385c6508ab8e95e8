"""Time-varying treatments: marginal structural models by IPTW and the parametric g-formula."""
