"""Suite-wide settings."""

import os

from hypothesis import settings

# CI runs Hypothesis derandomized, so a red or green run can be reproduced exactly;
# locally it keeps exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
