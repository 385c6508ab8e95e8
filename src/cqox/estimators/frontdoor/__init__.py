"""Front-door estimation (Pearl 1995): the effect through mediators the graph names."""
