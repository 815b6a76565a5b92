#!/usr/bin/env bash
# ci-deploy.sh - the push-to-main deployment for any CI system; the GitHub
# workflow (.github/workflows/deploy.yml) runs the same phases as steps.
#
#   scripts/ci-deploy.sh [all]        login, image, infra (only if changed), deploy
#   scripts/ci-deploy.sh login        docker login to the ECR registry
#   scripts/ci-deploy.sh image        build and push the relay image (skipped if the tag exists)
#   scripts/ci-deploy.sh infra-changed  print changed=true|false (and to $GITHUB_OUTPUT)
#   scripts/ci-deploy.sh infra        sam build && sam deploy
#   scripts/ci-deploy.sh deploy       relayshift deploy --wait; exits with its code
#
# The deploy phase's exit code is relayshift's: 0 promoted, 2 rolled back,
# 3 failed, 4 refused (another deployment runs), 1 usage or configuration.
# So the CI job fails when the release is rolled back.
#
# Run it from the root of the repository being deployed, with AWS
# credentials in the environment (an assumed role: OIDC, instance profile).
#
# Environment:
#   AWS_REGION            region (required)
#   ECR_REPOSITORY        ECR repository name of the relay image (required for login, image)
#   ECR_REGISTRY          registry host; default <account>.dkr.ecr.<region>.amazonaws.com
#   RELAY_BUILD_CONTEXT   docker build context (default .)
#   RELAY_DOCKERFILE      Dockerfile (default Dockerfile in the context)
#   RELAY_IMAGE           image to deploy; default $ECR_REGISTRY/$ECR_REPOSITORY:$DEPLOY_COMMIT
#   DEPLOY_COMMIT         commit being deployed (default: git rev-parse HEAD)
#   DEPLOY_BASE           commit deployed before, to decide whether the SAM application
#                         changed (default HEAD^; unknown or empty: treated as changed)
#   DEPLOY_VERSION        release version (default: git describe --tags --always --abbrev=12)
#   INFRA                 auto (default: sam deploy only when the application changed),
#                         always, or never
#   RELAYSHIFT_STACK      SAM stack name: sam deploy --stack-name, and where relayshift
#                         reads the state machine and listener from (its Outputs)
#   RELAYSHIFT_STRATEGY   deployment strategy (default: the functions' default)
#   RELAYSHIFT            relayshift binary (default: relayshift on PATH, else go build ./cmd/relayshift)
#   Every other RELAYSHIFT_* variable reaches relayshift unchanged (see relayshift deploy --help).
set -euo pipefail

log() { printf 'ci-deploy: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Paths whose change needs `sam build && sam deploy`: the template and its
# configuration, the relay infrastructure, and the Lambda functions' code.
INFRA_PATHS=(template.yaml samconfig.toml infra functions internal go.mod go.sum Makefile)

output() { # name value: a step output on GitHub Actions, a line elsewhere
  printf '%s=%s\n' "$1" "$2"
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi
}

commit() { echo "${DEPLOY_COMMIT:-$(git rev-parse HEAD)}"; }

version() {
  if [[ -n "${DEPLOY_VERSION:-}" ]]; then echo "$DEPLOY_VERSION"; return; fi
  git describe --tags --always --abbrev=12
}

registry() {
  if [[ -n "${ECR_REGISTRY:-}" ]]; then echo "$ECR_REGISTRY"; return; fi
  : "${AWS_REGION:?set AWS_REGION}"
  local account
  account=$(aws sts get-caller-identity --query Account --output text)
  echo "${account}.dkr.ecr.${AWS_REGION}.amazonaws.com"
}

image() {
  if [[ -n "${RELAY_IMAGE:-}" ]]; then echo "$RELAY_IMAGE"; return; fi
  : "${ECR_REPOSITORY:?set ECR_REPOSITORY}"
  echo "$(registry)/${ECR_REPOSITORY}:$(commit)"
}

phase_login() {
  : "${AWS_REGION:?set AWS_REGION}"
  ECR_REGISTRY=$(registry) # once, for the phases after this one
  aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$ECR_REGISTRY"
}

phase_image() {
  : "${ECR_REPOSITORY:?set ECR_REPOSITORY}"
  local ref tag
  ref=$(image)
  tag=${ref##*:}
  # Re-running a job must not rebuild (and cannot re-push to an immutable tag).
  if aws ecr describe-images --repository-name "$ECR_REPOSITORY" --image-ids "imageTag=$tag" >/dev/null 2>&1; then
    log "image $ref exists; not rebuilding"
  else
    local context=${RELAY_BUILD_CONTEXT:-.}
    docker build --file "${RELAY_DOCKERFILE:-$context/Dockerfile}" --tag "$ref" \
      --label "org.opencontainers.image.revision=$(commit)" "$context"
    docker push "$ref"
  fi
  output image "$ref"
}

infra_changed() {
  local base=${DEPLOY_BASE:-}
  if [[ -z "$base" ]]; then base=$(git rev-parse --verify --quiet 'HEAD^' || true); fi
  # A first push (before = 000...0), a force-push or a shallow clone leaves
  # no usable base: deploy the application to be safe.
  if [[ -z "$base" || "$base" =~ ^0+$ ]] || ! git cat-file -e "${base}^{commit}" 2>/dev/null; then
    log "no usable base commit (${base:-none}): treating the SAM application as changed"
    return 0
  fi
  local changed
  changed=$(git diff --name-only "$base" "$(commit)" -- "${INFRA_PATHS[@]}")
  if [[ -n "$changed" ]]; then
    log "SAM application changed since ${base:0:12}: $(echo "$changed" | tr '\n' ' ')"
    return 0
  fi
  log "SAM application unchanged since ${base:0:12}"
  return 1
}

phase_infra_changed() {
  if infra_changed; then output changed true; else output changed false; fi
}

phase_infra() {
  local args=(--no-confirm-changeset --no-fail-on-empty-changeset)
  if [[ -n "${RELAYSHIFT_STACK:-}" ]]; then args+=(--stack-name "$RELAYSHIFT_STACK"); fi
  sam build
  sam deploy "${args[@]}"
}

relayshift_bin() {
  if [[ -n "${RELAYSHIFT:-}" ]]; then echo "$RELAYSHIFT"; return; fi
  if command -v relayshift >/dev/null; then command -v relayshift; return; fi
  local out="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/relayshift"
  log "building relayshift into $out"
  go build -trimpath -o "$out" ./cmd/relayshift
  echo "$out"
}

phase_deploy() {
  local bin args
  bin=$(relayshift_bin)
  args=(deploy --wait --version "$(version)" --commit "$(commit)" --image "$(image)")
  if [[ -n "${RELAYSHIFT_STRATEGY:-}" ]]; then args+=(--strategy "$RELAYSHIFT_STRATEGY"); fi
  log "relayshift ${args[*]}"
  # exec: the job's exit code is relayshift's (2 when rolled back).
  exec "$bin" "${args[@]}"
}

main() {
  local phase=${1:-all}
  case "$phase" in
    login) phase_login ;;
    image) phase_image ;;
    infra-changed) phase_infra_changed ;;
    infra) phase_infra ;;
    deploy) phase_deploy ;;
    all)
      phase_login
      phase_image
      case "${INFRA:-auto}" in
        always) phase_infra ;;
        never) log "INFRA=never: not deploying the SAM application" ;;
        auto) if infra_changed; then phase_infra; fi ;;
        *) die "INFRA=${INFRA}: want auto, always or never" ;;
      esac
      RELAY_IMAGE=$(image) phase_deploy
      ;;
    *) die "unknown phase $phase (want all, login, image, infra-changed, infra or deploy)" ;;
  esac
}

main "$@"
