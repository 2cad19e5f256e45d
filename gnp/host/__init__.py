"""What gnp keeps on this machine and reads from it: ``$GNP_HOME`` and the private keys
there, flock(2) locks, and the clock and randomness that stamp a new delta."""
