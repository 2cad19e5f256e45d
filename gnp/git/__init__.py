"""The git shell: turns refs and blobs into core values and back, with pygit2. The hub and
what its ``main`` says, the inbox, the merge engine (the only writer of ``main``), replay,
the owner's commits, submission, and the repositories gnp keeps under ``$GNP_HOME``.
"""
