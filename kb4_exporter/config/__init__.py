"""Settings from flags, environment variables and the account file.

`settings` holds the immutable types and defaults; `build` turns flags, environment
and the file into them, every problem collected (`problems`), with `values` checking
single values, `account` one account and `account_file` the YAML layering; `describe`
prints them redacted; `secrets` says where tokens live; `durations` reads "1h30m".
"""
