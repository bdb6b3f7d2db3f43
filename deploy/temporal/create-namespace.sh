#!/bin/sh
# One-shot: wait until the Temporal cluster is healthy, then create the namespace thidua uses
# (TEMPORAL_NAMESPACE) if it does not exist yet. Safe to run again.
set -eu

: "${TEMPORAL_ADDRESS:?}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-30d}"

attempt=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "Temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
  echo "namespace $NAMESPACE created"
fi

# The search attributes operators query target workflows by (thidua/workflows/search_attributes.py;
# the worker would add missing ones itself when it may). Creating one that exists fails: skip those.
for attribute in thiduaCampaign=Keyword thiduaUnit=Keyword thiduaStatus=Keyword thiduaOverdue=Bool \
                 thiduaDeadline=Datetime; do
  name="${attribute%%=*}"
  if temporal operator search-attribute list --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" \
      | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" \
      --name "$name" --type "${attribute#*=}"
    echo "search attribute $name created"
  fi
done
