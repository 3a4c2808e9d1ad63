"""From stored papers to numbered cards: harvest, pool, digest plans."""
