"""Process supervision: worktrees and the traps that remove them, ownership records, the
run harness behind ``gnp run``, the janitor, and what they know of other processes
(Linux's ``/proc``, locks, signals, the stop token a frame passes down).
"""
