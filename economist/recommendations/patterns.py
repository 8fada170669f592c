"""The words the detection rules look for in a ledger line (all matched lower-case, as substrings).

A line's *label* is ServiceCategory | ServiceName | ResourceType | ChargeDescription; a resource's kind is
the first KINDS entry one of its labels matches (the resource's greatest label, as SQL max() picks it).
A line's *text* is ConsumedUnit PricingUnit SkuId ChargeDescription; the rules sum cost or ConsumedQuantity
over the lines whose text matches ACTIVITY, IDLE or CAPACITY (and not COLD_TIERS).
"""

from __future__ import annotations

#: resource kinds, tested in this order (IPs and load balancers before databases, databases before volumes:
#: a database's storage line says "provisioned storage" too; object storage before compute)
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "ip",
        ("elastic ip", "elasticip", "public ip", "publicip", "ip address", "ipaddress", "static ip", "ipv4"),
    ),
    ("load_balancer", ("load balanc", "loadbalanc", "application gateway")),
    (
        "database",
        ("databases|", "relational database", "rds", "cloud sql", "sql database", "aurora", "database"),
    ),
    ("volume", ("volume", "disk", "elastic block store", "ebs:", "provisioned storage", "block storage")),
    (
        "object_storage",
        ("simple storage service", "amazon s3", "blob", "cloud storage", "bucket", "object storage"),
    ),
    ("compute", ("compute|", "instance", "virtual machine", "compute engine", "elastic compute cloud", "vm")),
)

#: usage that shows a resource is doing work: I/O and requests, load-balancer capacity units and data processed
ACTIVITY: tuple[str, ...] = (
    "i/o", "iorequest", "io request", "iousage", "io usage", "iops", "request", "operation", "transaction",
    "retrieval", "lcu", "processed", "processing", "connection",
)  # fmt: skip

#: charges a provider bills for an address or resource that is allocated but not in use
IDLE: tuple[str, ...] = ("idle", "not attached", "unattached", "not associated", "unassociated", "unused")

#: storage capacity (GB-months, byte-hours)
CAPACITY: tuple[str, ...] = (
    "gb-mo", "gb-month", "gb month", "gibibyte month", "gibibyte-month", "byte-hrs", "timedstorage",
)  # fmt: skip

#: capacity lines already on a cheaper tier (not "standard")
COLD_TIERS: tuple[str, ...] = (
    "infrequent", "standard-ia", "standardia", "standard_ia", "onezone", "one zone", "glacier", "archive",
    "cool", "cold", "nearline", "deep", "intelligent", "-ia", "_ia",
)  # fmt: skip

#: PricingCategory values that are on-demand (FOCUS 1.x "Standard", 1.0-preview "On-Demand"; NULL counts
#: too); "Committed" and "Dynamic" (spot) are not. Compared as stored, so each spelling is listed.
ON_DEMAND_PRICING_CATEGORIES: tuple[str, ...] = (
    "", "Standard", "standard", "STANDARD", "On-Demand", "on-demand", "OnDemand", "On Demand", "ON_DEMAND",
)  # fmt: skip
COMMITTED_PRICING_CATEGORIES: tuple[str, ...] = ("Committed", "committed", "COMMITTED")
#: CommitmentDiscountStatus of a commitment's unused part
UNUSED_COMMITMENT_STATUSES: tuple[str, ...] = ("Unused", "unused", "UNUSED")
#: ServiceCategory of compute (FOCUS: "Compute")
COMPUTE_CATEGORIES: tuple[str, ...] = ("Compute", "compute", "COMPUTE")

#: normalized tag keys that say a resource's environment, first present wins
ENVIRONMENT_TAG_KEYS: tuple[str, ...] = ("environment", "env", "stage")
