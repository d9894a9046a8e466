"""The sampling engine (Algorithm 1) and what it runs on: clips, spatial tiles, precision, progress, CPU memory."""
