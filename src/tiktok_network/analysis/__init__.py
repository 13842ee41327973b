"""Network statistics, fits, figures and the comparison report."""
