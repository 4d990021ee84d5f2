"""Who an address is: networks, special addresses, AWS ranges, geography and ASN."""
