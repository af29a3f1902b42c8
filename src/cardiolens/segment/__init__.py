"""The segment stage: masks, ED/ES and landmarks for recordings that come without them."""
