"""Functions: user code run as AWS Lambda runs it.

The Lambda control plane's resources (functions, versions, aliases,
concurrency, permissions, event invoke configurations) are documents in the
state store (:mod:`services.functions.service`); a function's code is kept
in the system bucket and unpacked once per code hash under the node's state
directory (:mod:`services.functions.code`). Invocations run in execution
environments, one OS process each, speaking the Lambda Runtime API
(:mod:`services.functions.environment`, :mod:`services.functions.pool`,
:mod:`services.functions.invoker`); ``Event`` invocations are durable on a
queue and retried, then sent to their destinations
(:mod:`services.functions.async_delivery`).
"""
