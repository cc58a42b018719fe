#!/usr/bin/env bash
# Two parties on one detente server, with curl and jq (the README's session).
#   DETENTE=http://127.0.0.1:8000 ADMIN=<token printed by `detente init`> scripts/curl-session.sh
# Needs a server on the demo world: detente init --demo && detente serve
set -euo pipefail
: "${DETENTE:=http://127.0.0.1:8000}" "${ADMIN:?set ADMIN to the token detente init printed}"
json=(-H 'Content-Type: application/json')

# The secretariat gives the coalition and the Russian desk a member and a token each.
token_for() {  # token_for PARTY NAME
  local member
  member=$(curl -sf -X POST "$DETENTE/parties/$1/members" -H "Authorization: Bearer $ADMIN" "${json[@]}" \
             -d "{\"name\": \"$2\"}" | jq -r .id)
  curl -sf -X POST "$DETENTE/members/$member/tokens" -H "Authorization: Bearer $ADMIN" "${json[@]}" \
    -d '{"ttl_days": 30}' | jq -r .token
}
CO=$(token_for coalition "Coalition liaison officer")
RU=$(token_for ru "Russian desk")

# An air intent: a 0.1-degree square, 3,000-6,000 m, 8 July 2017 06:00-09:00 UTC.
intent() {  # intent ID WEST SOUTH EAST NORTH
  echo "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\",
    \"geometry\": {\"type\": \"Polygon\", \"coordinates\": [[[$2, $3], [$4, $3], [$4, $5], [$2, $5], [$2, $3]]]},
    \"properties\": {\"kind\": \"intent\", \"id\": \"$1\", \"category\": \"air\", \"altitude_m\": [3000, 6000],
                   \"time\": [\"2017-07-08T06:00:00Z\", \"2017-07-08T09:00:00Z\"]}}]}"
}
file() {  # file TOKEN WORLD_VERSION INTENT_JSON: POST /intents (prints the body, whatever the status)
  curl -s -X POST "$DETENTE/intents" -H "Authorization: Bearer $1" "${json[@]}" \
    -d "{\"world_version\": $2, \"intent\": $3}"
}

V=$(curl -sf "$DETENTE/world" -H "Authorization: Bearer $RU" | jq .world_version)
echo "# both parties read world version $V"

echo "# the coalition files co-isr-1 west of Deir ez-Zor"
file "$CO" "$V" "$(intent co-isr-1 39.60 35.00 39.70 35.10)" | jq -c '{filed, world_version, conflicts: (.conflicts | length)}'

echo "# Russia files ru-recce-1 nearby, against the version it read: refused, with what changed"
file "$RU" "$V" "$(intent ru-recce-1 39.65 35.05 39.75 35.15)" |
  jq -c '{status, type, world_version, new: [.new_conflicts[] | {type, severity, other: .other.id}]}'

V=$(curl -sf "$DETENTE/world" -H "Authorization: Bearer $RU" | jq .world_version)
echo "# Russia re-checks and files at version $V: advisory, the coalition is told"
file "$RU" "$V" "$(intent ru-recce-1 39.65 35.05 39.75 35.15)" |
  jq -c '{filed, world_version, notified, conflicts: [.conflicts[] | {type, severity, other: .other.id}]}'

echo "# the coalition's inbox: a clipped disclosure, never the whole Russian plan"
curl -sf "$DETENTE/notifications?unread=true" -H "Authorization: Bearer $CO" |
  jq -c '.items[] | {type, filing_party: .body.filing_party, severity: .body.severity,
                     window: .body.disclosures[0].time, area: .body.disclosures[0].area.type}'

echo "# the coalition may not read the Russian intent itself"
curl -s "$DETENTE/intents/ru-recce-1" -H "Authorization: Bearer $CO" | jq -c '{status, title}'

echo "# Russia plans inside the At-Tanf deconfliction zone: blocking, refused"
file "$RU" "$V" "$(intent ru-sortie-2 38.60 33.45 38.70 33.55)" | jq -c '{status, type, detail}'

echo "# ... unless it overrides with a written justification, which the coalition receives"
curl -s -X POST "$DETENTE/intents" -H "Authorization: Bearer $RU" "${json[@]}" -d "{\"world_version\": $V,
  \"override\": {\"justification\": \"Pursuit of a convoy leaving the zone, agreed by phone with the coalition desk at 05:40Z\"},
  \"intent\": $(intent ru-sortie-2 38.60 33.45 38.70 33.55)}" | jq -c '{filed, overridden, notified}'
curl -sf "$DETENTE/notifications?unread=true" -H "Authorization: Bearer $CO" |
  jq -c '.items[-1] | {type, severity: .body.severity, override: .body.override.justification}'

echo "# the coalition acknowledges it; the answer carries a receipt, checked offline against the published key"
work=$(mktemp -d)
note=$(curl -sf "$DETENTE/notifications" -H "Authorization: Bearer $CO" | jq '.items[-1].id')
curl -sf -X POST "$DETENTE/notifications/$note/ack" -H "Authorization: Bearer $CO" "${json[@]}" -d '{}' > "$work/ack.json"
jq -c '{acked_by_coalition: (.acked_by != null), logged: (.receipt.entry | fromjson | {type, actor: .actor.party})}' "$work/ack.json"
curl -sf "$DETENTE/.well-known/detente/audit-keys" | jq '.keys[-1]' > "$work/detente-key.json"
"${DETENTE_CLI:-detente}" audit check-receipt "$work/ack.json" --trust "$work/detente-key.json" | head -n 1 | cut -d: -f1
rm -rf "$work"
