"""The split stage: patient-level splits, a leakage audit and a balance report."""
