"""Accounts: who logs in, how (argon2id passwords, signed tokens), and the throttle."""
