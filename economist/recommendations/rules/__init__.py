"""One module per recommendation type family; each turns aggregated ledger numbers into Findings."""
