# The sidecar tags the e2e builds: the same ones deploy/ pins (test/e2e/install/sandbox-patches.test.ts
# checks that they agree). Sourced by build.sh and images.sh.
PROVISIONER_TAG=v6.4.0
ATTACHER_TAG=v4.12.0
RESIZER_TAG=v2.3.0
SNAPSHOTTER_TAG=v8.7.0
# Where deploy/ names them; images.sh tags the local images with these names.
SIDECAR_REGISTRY=registry.k8s.io/sig-storage
