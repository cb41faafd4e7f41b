#!/bin/bash
# LocalStack init hook (ready stage): runs inside the LocalStack container once
# its services accept requests. Headwater is not installed in the container, so
# this only says what to do next; provisioning runs from the host, where
# `headwater up` creates the buckets, queues, rules and log groups idempotently.
set -euo pipefail

echo "headwater: LocalStack is ready (services: ${SERVICES:-all})"
echo "headwater: provision the Headwater stack from the host with:"
echo "headwater:   headwater up --aws-endpoint http://localhost:4566"
echo "headwater: (safe to re-run; needed again after every LocalStack restart)"
