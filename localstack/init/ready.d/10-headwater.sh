#!/bin/bash
# LocalStack init hook (ready stage): runs once LocalStack's services accept
# requests (in the container, or in host mode where launcher.py copies the
# hooks into the instance). Headwater is not installed in LocalStack, so
# this only says what to do next; provisioning runs from the host, where
# `headwater up` creates the buckets, queues, rules and log groups idempotently.
set -euo pipefail

echo "headwater: LocalStack is ready (services: ${SERVICES:-all})"
echo "headwater: provision the Headwater stack from the host with:"
echo "headwater:   headwater up --aws-endpoint http://localhost:4566"
echo "headwater: (safe to re-run; needed again after every LocalStack restart)"
