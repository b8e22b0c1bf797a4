"""The KSeF IP policy of a company's sessions (``AuthorizationPolicy/allowedIps``): parsing
and fingerprinting the lists kept on ``res.company``."""

import hashlib
import ipaddress
import re

#: KSeF accepts at most 10 entries in each list of ``AuthorizationPolicy/allowedIps``
MAX_POLICY_ENTRIES = 10


def split_entries(text):
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def normalize_entry(field_name, entry):
    if field_name == "ksef_ip4_addresses":
        return str(ipaddress.IPv4Address(entry))
    if field_name == "ksef_ip4_ranges":
        first, sep, last = entry.partition("-")
        if not sep:
            raise ValueError(entry)
        first, last = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
        if first > last:
            raise ValueError(entry)
        return f"{first}-{last}"
    return str(ipaddress.IPv4Network(entry, strict=False))


def policy_key(policy):
    """A short fingerprint of a policy (``''`` for none), stored with the cached session."""
    if not policy:
        return ""
    text = repr((policy.ip4_addresses, policy.ip4_ranges, policy.ip4_masks))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
