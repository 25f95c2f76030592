"""The tally every SDK check script keeps: `check(cond, what)` counts a check and stops the script
on the first failure; `passed()` prints the `N checks passed` line the Rust tests look for."""

checks = 0


def check(cond, what):
    """Counts one check; exits with `FAILED: what` unless `cond` holds."""
    global checks
    checks += 1
    if not cond:
        raise SystemExit(f"FAILED: {what}")


def passed(prefix=""):
    """Prints the closing line: `prefix` and how many checks passed."""
    print(f"{prefix}{checks} checks passed")
