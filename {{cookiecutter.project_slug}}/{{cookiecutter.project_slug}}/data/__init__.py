"""The data: built-in loaders, the in-memory{% if cookiecutter.tables %}, table{% endif %}{% if cookiecutter.streaming %}, streaming{% endif %} DataModules, augmentation, splits and statistics."""
