"""Collections domain: accounts, phones, segments, campaigns and their
strategies. Pure code: no I/O."""
