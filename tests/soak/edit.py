"""A soak worker's work, run by ``gnp run`` in its worktree, as small as it can be:
``python -S edit.py TOKEN INC ITEMS MODE PAUSE MARK``. It adds INC to the declared counter
``c.json:/n``, appends ITEMS items named after TOKEN to the declared append-only list
``log.json:/declared`` and to the undeclared list ``log.json:/free``, and adds the new key
``keys.json:/k/TOKEN``; MODE ``raise`` then raises. It first makes the file MARK/TOKEN
(so the soak knows the work started), then lets PAUSE seconds pass (a kill may land
there); MARK, a folder of the soak's, also finds whatever of it is left running."""

import json
import sys
import time

token, inc, items, mode, pause, mark = sys.argv[1:7]
inc, items = int(inc), int(items)
open(f"{mark}/{token}", "w").close()
time.sleep(float(pause))
with open("c.json") as f:
    counter = json.load(f)
counter["n"] += inc
with open("log.json") as f:
    log = json.load(f)
log["declared"] += [f"{token}/d{j}" for j in range(items)]
log["free"] += [f"{token}/f{j}" for j in range(items)]
with open("keys.json") as f:
    keys = json.load(f)
keys["k"][token] = inc
for name, doc in (("c.json", counter), ("log.json", log), ("keys.json", keys)):
    with open(name, "w") as f:
        json.dump(doc, f)
if mode == "raise":
    raise RuntimeError("the soak's worker fails after editing, as it was told to")
