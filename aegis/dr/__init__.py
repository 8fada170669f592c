"""Disaster recovery: DR plans with RPO/RTO compliance, drills restored in isolation, failover and failback
runbooks (tables dr_plans and dr_runs)."""
