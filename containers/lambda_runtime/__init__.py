"""The runtime client a function's execution environment runs: AWS Lambda's Python runtime, in small.

``bootstrap.py`` is started as a script (``python bootstrap.py``) in a fresh
process per execution environment. It imports the function's handler module
once, then serves invocations one at a time over the Lambda Runtime API at
``AWS_LAMBDA_RUNTIME_API`` (``/2018-06-01/runtime/invocation/next``,
``.../response``, ``.../error``, ``/init/error``), as the runtime interface
client of a Lambda image does. It imports nothing of Headwater's: the node
speaks to it only through that API, its environment and its output.
"""
