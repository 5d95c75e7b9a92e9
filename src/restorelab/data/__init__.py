"""LightningDataModules, one file per dataset family, each yielding clean images
(or (noisy, clean) pairs for datasets with real noise)."""
