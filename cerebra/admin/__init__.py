"""Cerebra's admin API (scope `admin`): keys, teams and orgs, and the audit log of every admin write."""
