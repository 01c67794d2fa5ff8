"""MLPerf submission support: the results tree from runs (`director submission export`), the checks
against the rules (`director check`), and the self-certification checklist."""
