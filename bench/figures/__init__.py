"""One module per group of figures of issue 5; each function measures one figure and returns it."""
