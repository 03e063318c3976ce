"""What a person runs: the `crm-risk` CLI, the demo, flags and their explanation, the backtest and its report."""
