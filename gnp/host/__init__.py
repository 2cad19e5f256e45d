"""What gnp keeps on this machine and reads from it: ``$GNP_HOME`` and the private keys
there, flock(2) locks, the clock and randomness that stamp a new delta, and files that
anyone may have put where gnp reads them (only regular ones, and no more than a bound)."""
