#!/usr/bin/env bash
# Secretless sign-in (issue 15) through real ansible-playbook runs: workload identity federation
# (a federated token from a file, re-read when the platform rotates it, or given inline) and
# managed identity (App Service style and IMDS style endpoints), the token cached across tasks
# (across plays it is the same token cache as with a secret: mde_auth shows it), and the failures
# Entra ID or the endpoint give, each with zero API calls. Every fact is read from the emulator's
# request log and issuer (check.py), never from the module.
set -eu -o pipefail

# shellcheck source=../setup_mde/files/runme_config.sh
. ../setup_mde/files/runme_config.sh "$@"
cfg() { python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))[sys.argv[2]])' "$CONFIG" "$1"; }
LOGS="$OUTPUT_DIR/logs"
mkdir -p "$LOGS"
# the federated tokens live outside the output folder (the secret scan of `make integration` walks it)
TOKENS=$(mktemp -d)
trap 'rm -rf "$TOKENS"' EXIT
export ANSIBLE_INVENTORY="$INVENTORY_PATH"
export ANSIBLE_FORCE_COLOR=false

fresh_cache() {
    export XDG_CACHE_HOME="$OUTPUT_DIR/xdg-$1"
    rm -rf "$XDG_CACHE_HOME"
}
clear_auth_env() {
    unset MDE_CLIENT_SECRET MDE_CLIENT_CERTIFICATE_PATH MDE_ACCESS_TOKEN MDE_AUTH_METHOD MDE_FEDERATED_TOKEN MDE_FEDERATED_TOKEN_FILE \
        AZURE_FEDERATED_TOKEN_FILE MDE_MANAGED_IDENTITY_CLIENT_ID IDENTITY_ENDPOINT IDENTITY_HEADER AZURE_POD_IDENTITY_AUTHORITY_HOST \
        MDE_MAX_RETRIES || true
}
expect_eq() {  # what, expected, actual
    if [ "$2" != "$3" ]; then echo "FAIL: $1: expected $2, got $3"; exit 1; fi
    echo "ok: $1 = $3"
}
expect_in() {  # what, needle, file
    if ! grep -qF -- "$2" "$3"; then echo "FAIL: $1: '$2' not in $3"; tail -20 "$3"; exit 1; fi
    echo "ok: $1"
}
play() {  # log name, playbook, extra args...
    local name=$1 book=$2; shift 2
    if ! ansible-playbook "$book" -vvv "$@" > "$LOGS/$name.log" 2>&1; then echo "FAIL: $name"; tail -30 "$LOGS/$name.log"; exit 1; fi
}
play_fails() {
    local name=$1 book=$2; shift 2
    if ansible-playbook "$book" -vvv "$@" > "$LOGS/$name.log" 2>&1; then
        echo "FAIL: $name was expected to fail"; tail -30 "$LOGS/$name.log"; exit 1
    fi
}
no_requests() {  # what, mark: nothing reached the API (nor, when a third argument is given, any host)
    expect_eq "API calls: $1" 0 "$(check count "$2" api)"
}

check reset
clear_auth_env
eval "$(check env)"
APP=$(cfg mde_client_id)

echo "== workload identity: the federated token from AZURE_FEDERATED_TOKEN_FILE (what the AKS webhook injects), auto"
FILE="$TOKENS/azure-identity-token"
first=$(check mint "$FILE")
export AZURE_FEDERATED_TOKEN_FILE="$FILE"
fresh_cache wi
mark=$(check mark)
play wi_file tasks.yml
expect_eq "token requests for 3 tasks" 1 "$(check count "$mark" login token)"
expect_eq "API calls" 3 "$(check count "$mark" api)"
expect_eq "the API calls' app" "$APP" "$(check clients "$mark" api)"
expect_eq "the federated token exchanged" "$first" "$(check accepted)"

echo "== the platform rotates the file: the next token request reads it again"
second=$(check mint "$FILE")
check expire  # the API refuses the cached token: the module fetches a new one
mark=$(check mark)
play wi_rotated tasks.yml
expect_eq "token requests after the rotation" 1 "$(check count "$mark" login token)"
expect_eq "the federated token exchanged after the rotation" "$second" "$(check accepted)"

echo "== workload identity named by MDE_AUTH_METHOD, the token inline (MDE_FEDERATED_TOKEN), a client secret set too"
unset AZURE_FEDERATED_TOKEN_FILE
inline=$(check mint "$TOKENS/inline")
MDE_FEDERATED_TOKEN=$(cat "$TOKENS/inline")
export MDE_FEDERATED_TOKEN MDE_AUTH_METHOD=workload_identity MDE_CLIENT_SECRET=not-used-with-workload-identity
fresh_cache wi-inline
mark=$(check mark)
play wi_inline tasks.yml
expect_eq "token requests" 1 "$(check count "$mark" login token)"
expect_eq "the federated token exchanged (not the secret)" "$inline" "$(check accepted)"
clear_auth_env

echo "== Entra ID refuses the federated token: a clear error, no API call"
export MDE_FEDERATED_TOKEN_FILE="$TOKENS/refused"
refused() {  # name, Entra ID's code, what the message must say to check, the claim of the token
    local name=$1 code=$2 says=$3 claim=$4
    check mint "$MDE_FEDERATED_TOKEN_FILE" "$claim" > /dev/null
    fresh_cache "wi-$name"
    mark=$(check mark)
    play_fails "wi_$name" tasks.yml
    expect_in "$name: Entra ID's code" "$code" "$LOGS/wi_$name.log"
    expect_in "$name: says what to check" "$says" "$LOGS/wi_$name.log"
    no_requests "$name" "$mark"
}
refused expired AADSTS700024 "write a fresh one to federated_token_file" lifetime=-120
refused wrong_audience AADSTS700212 "api://AzureADTokenExchange" audience=api://wrong-audience
refused unknown_subject AADSTS700213 "repo:ORG/REPO:environment:NAME" subject=repo:contoso/other:ref:refs/heads/main
clear_auth_env

echo "== managed identity, App Service style (IDENTITY_ENDPOINT + IDENTITY_HEADER), system-assigned; no client id, no tenant"
unset MDE_CLIENT_ID MDE_TENANT_ID
IDENTITY_URL=$(cfg mde_identity_url)
IDENTITY_ENDPOINT="$IDENTITY_URL/msi/token"
IDENTITY_HEADER=$(cfg mde_identity_header)
export MDE_AUTH_METHOD=managed_identity IDENTITY_ENDPOINT IDENTITY_HEADER
fresh_cache mi-app-service
mark=$(check mark)
play mi_app_service tasks.yml
expect_eq "managed identity token requests for 3 tasks" 1 "$(check count "$mark" identity managed_identity_app_service)"
expect_eq "login-host requests" 0 "$(check count "$mark" login)"
expect_eq "API calls" 3 "$(check count "$mark" api)"
expect_eq "the API calls' app: the system-assigned identity" "$(cfg mde_mi_system_client_id)" "$(check clients "$mark" api)"
clear_auth_env

echo "== managed identity, IMDS style (through AZURE_POD_IDENTITY_AUTHORITY_HOST), user-assigned"
MDE_MANAGED_IDENTITY_CLIENT_ID=$(cfg mde_mi_user_client_id)
export MDE_AUTH_METHOD=managed_identity AZURE_POD_IDENTITY_AUTHORITY_HOST="$IDENTITY_URL" MDE_MANAGED_IDENTITY_CLIENT_ID
fresh_cache mi-imds
mark=$(check mark)
play mi_imds tasks.yml
expect_eq "managed identity token requests for 3 tasks" 1 "$(check count "$mark" identity managed_identity_imds)"
expect_eq "the API calls' app: the user-assigned identity" "$(cfg mde_mi_user_client_id)" "$(check clients "$mark" api)"

echo "== the managed identity endpoint is down: a clear error, no API call"
CLOSED_PORT=$(check closed-port)
export AZURE_POD_IDENTITY_AUTHORITY_HOST="http://127.0.0.1:$CLOSED_PORT" MDE_MAX_RETRIES=1
fresh_cache mi-down
mark=$(check mark)
play_fails mi_down tasks.yml
expect_in "names the endpoint" "Could not connect to the managed identity endpoint $AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token" \
    "$LOGS/mi_down.log"
expect_in "says where managed identity works" "needs a host with a managed identity" "$LOGS/mi_down.log"
no_requests "endpoint down" "$mark"
clear_auth_env

echo "== no secret, no access token and no federated token in any output"
check scan "$LOGS"/*.log
find "$OUTPUT_DIR"/xdg-* -type f ! -path '*/tokens/*' -print0 | xargs -0 -r python3 check.py "$CONFIG" scan
