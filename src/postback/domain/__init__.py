"""The domain: records and enums every layer shares, the parameter catalogues, key hashing."""
