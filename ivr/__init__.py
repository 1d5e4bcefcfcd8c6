"""Call flows that run inside Recobro's Stasis application (over ARI)."""
