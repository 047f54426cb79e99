"""Worker processes: a control process runs the namers, transformers and dtab store, and N
worker processes run the HTTP routers, binding names through the control. ``codec`` (pure)
turns binding states into the plain values the channel between them carries;
``remote_interpreter`` holds both ends of the binding conversation: the interpreter a worker's
router uses, and the control's service that answers it with the router's real interpreter.
"""
