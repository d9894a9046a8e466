"""``seeclear-evaluate``: every method's frames against the GT, one table (``cli``), and its parts."""
