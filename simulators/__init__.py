"""Physical models (cell, SEM scene) and fake vendor seams (EClib, SmartSEM) that the real drivers talk to."""
