"""One library entry point per job (``analysis.runs.backtest``, ...): config + source in, a result out."""
