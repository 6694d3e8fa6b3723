"""Real servers started by test fixtures (always on 127.0.0.1, stopped by PID)."""
