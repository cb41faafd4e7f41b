"""LocalStack init hook (ready stage): IAM's SimulatePrincipalPolicy evaluated as IAM evaluates it.

LocalStack runs ``.py`` hooks inside its own process, so this patches its IAM policy simulator.
LocalStack 4.13's simulator fails without ``ResourceArns`` (``'NoneType' object is not iterable``,
an InternalError), which is how the SageMaker Python SDK v3 validates an execution role, and matches
actions and resources literally: no wildcards, and ``explicitDeny`` when nothing matches. Kept: its
collection of the principal's policies (NoSuchEntity for a missing one). Replaced: the evaluation.
Without ``ResourceArns`` every resource (``*``) is simulated; IAM's ``*`` / ``?`` wildcards,
``NotAction`` / ``NotResource``; a matching ``Deny`` gives ``explicitDeny``, a matching ``Allow``
``allowed``, nothing ``implicitDeny``. Conditions, permissions boundaries and SCPs are not
evaluated, as in Headwater's embedded emulator.
"""

import json
import logging
import re

from localstack.aws.api.iam import EvaluationResult, SimulatePolicyResponse
from localstack.services.iam.resources.policy_simulator import BasicIAMPolicySimulator

LOG = logging.getLogger("headwater.iam-simulator")


def _as_list(value):
    return [value] if isinstance(value, str) else list(value or [])


def _wildcard(pattern, value, ignore_case):
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(rx, value, flags) is not None


def _covers(statement, key, value):
    ignore_case = key == "Action"  # action names are case-insensitive, ARNs are not
    if key in statement:
        return any(_wildcard(p, value, ignore_case) for p in _as_list(statement[key]))
    if "Not" + key in statement:
        return not any(_wildcard(p, value, ignore_case) for p in _as_list(statement["Not" + key]))
    return False


def _decide(statements, action, resource):
    decision = "implicitDeny"
    for st in statements:
        if _covers(st, "Action", action) and _covers(st, "Resource", resource):
            if st.get("Effect") == "Deny":
                return "explicitDeny"
            if st.get("Effect") == "Allow":
                decision = "allowed"
    return decision


def simulate_principal_policy(self, context, request):
    backend = self.get_iam_backend(context)
    statements = []
    for document in self.get_policies_from_principal(backend, request.get("PolicySourceArn")):
        doc = json.loads(document) if isinstance(document, str) else document
        found = doc.get("Statement", [])
        found = [found] if isinstance(found, dict) else found
        # Statements that name a Principal are a trust policy's, not the principal's permissions.
        statements.extend(st for st in found if "Principal" not in st and "NotPrincipal" not in st)
    results = []
    for action in request.get("ActionNames") or []:
        for resource in request.get("ResourceArns") or ["*"]:
            result = EvaluationResult()
            result["EvalActionName"] = action
            result["EvalResourceName"] = resource
            result["EvalDecision"] = _decide(statements, action, resource)
            result["MatchedStatements"] = []
            results.append(result)
    response = SimulatePolicyResponse()
    response["IsTruncated"] = False
    response["EvaluationResults"] = results
    return response


BasicIAMPolicySimulator.simulate_principal_policy = simulate_principal_policy
LOG.info("headwater: IAM SimulatePrincipalPolicy evaluates wildcards and defaults ResourceArns to *")
