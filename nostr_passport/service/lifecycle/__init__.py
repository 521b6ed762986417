"""Key lifecycle: share refresh, KEK rotation, backup/restore, import, migration, DKG."""
