"""SeeClear on your own videos: the logic (``video``), the command line (``cli``: ``seeclear-infer``, or
``python -m seeclear_arch.inference``), the colour fix (``color_fix``); tiles and their automatic size are the
sampling engine's (``seeclear_arch.sampling.tiling``)."""
