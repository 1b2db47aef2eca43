"""The data: built-in loaders, the in-memory, table and streaming DataModules, augmentation, splits and statistics."""
