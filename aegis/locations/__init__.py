"""Storage locations: where archives are kept (a local directory or an S3 bucket), registered by name."""
