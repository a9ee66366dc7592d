# syntax=docker/dockerfile:1
#
# Quarry CSI driver image: one binary, `quarry`, with the subcommands
# controller | node | all | doctor.
#
# What is in the runtime image, and why:
#   - Node.js, the major that CI runs every suite on (.ci/run, "shipped in
#     the image"); no dependency has a native addon (test/unit/dependencies.test.ts
#     keeps it so), so node_modules carries no ABI of its own;
#   - /opt/quarry: dist/src (compiled TypeScript), proto/ (parsed once at run
#     time by protobufjs), production node_modules only;
#   - e2fsprogs (mkfs.ext4, resize2fs, e2fsck, dumpe2fs), xfsprogs (mkfs.xfs,
#     xfs_growfs; xfs_io, kept running through a freeze so the thaw needs no
#     fork), btrfs-progs (mkfs.btrfs, `btrfs filesystem resize`):
#     create, check and grow the volume filesystems;
#   - util-linux and mount (losetup, blkid, blockdev, fallocate, fsfreeze,
#     mount, umount): loop devices, probing for existing filesystems before
#     any mkfs, device sizes, preallocation of thick volumes, freezing a
#     source for a snapshot, mounts; coreutils' cp makes reflink and sparse
#     copies. These are the tools `quarry doctor` checks.
# mkfs runs in the container but the host kernel mounts the result: mkfs
# defaults must stay within what the hosts' kernels support. Debian bookworm
# keeps them conservative (xfsprogs 6.1, e2fsprogs 1.47); `quarry doctor`
# checks the host kernel. The process runs as root: the node plugin needs
# privileged mounts and loop devices (the controller pod drops privileges
# through its securityContext).
#
# Node major: 24 (LTS, maintained until April 2028). Node 26 became the active
# LTS in October 2026; move to it with --build-arg NODE_MAJOR=26 once CI runs
# the suites on it. Both stages take the same ARG.
#
# Base images are named in full (docker.io/library/...): Docker reads them as
# before, and buildah or podman need no short-name resolution, so a build with
# --pull=never finds base images made locally under these names (the e2e makes
# them without a registry: test/e2e/image/base-images.sh).
ARG NODE_MAJOR=24
ARG DEBIAN_RELEASE=bookworm

# ---- build: compile TypeScript ----------------------------------------------
# No native addon to compile, so the slim image (node and npm) is enough.
FROM docker.io/library/node:${NODE_MAJOR}-${DEBIAN_RELEASE}-slim AS build
# Behind a TLS-intercepting proxy npm must trust the proxy's CA: mount a CA bundle into the
# build and name it, e.g. `buildah bud -v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro
# --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt` (the e2e does). An ARG lives in this build
# stage only; left unset it changes nothing.
ARG NODE_EXTRA_CA_CERTS
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto ./proto
COPY src ./src
# After the prune, start the CLI once: a runtime import that was only a
# devDependency fails the build here, not on a node.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node dist/src/cli/main.js --version

# ---- runtime ---------------------------------------------------------------
FROM docker.io/library/node:${NODE_MAJOR}-${DEBIAN_RELEASE}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      e2fsprogs \
      xfsprogs \
      btrfs-progs \
      util-linux \
      mount \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/quarry
ENV NODE_ENV=production
# A small young generation and a bounded old one: V8 otherwise lets a node process's heap
# drift to ~150 MiB before collecting. With these (and the allocator settings and the launcher's
# flag below) a quarry process on Node 24 is ~77-80 MiB RSS idle and ~90-92 MiB right after a
# burst of RPCs, ~53 MiB of it the node binary's own pages (Node 20: ~61-62, ~72 and ~43; the
# process bench, docs/benchmarks.md "Process"). A semi-space of 2 or 4 MiB trims Probe CPU by ~7% or ~15% for
# 2.5 or 5 MiB more RSS per process; the RSS goal is the tighter (design: Process footprint).
ENV NODE_OPTIONS="--max-semi-space-size=1 --max-old-space-size=64"
# glibc: allocations of 32 KiB and more get their own mapping, returned on free, and free memory
# at the top of the heap is returned past 128 KiB. V8's compiler takes ~16 MiB in such blocks
# during a burst of calls and frees it; without these glibc kept it: on Node 24, RSS right after
# 10,000 mixed RPCs measured 95-97 MiB with them and 99-107 MiB without (3 runs each), idle and
# CPU unchanged within noise (design: Process footprint).
ENV MALLOC_MMAP_THRESHOLD_=32768
ENV MALLOC_TRIM_THRESHOLD_=131072
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/proto ./proto
COPY --from=build /src/dist/src ./dist/src
# `quarry` on PATH, so that `kubectl exec ... -- quarry doctor` works too. The launcher gives node
# the V8 flags NODE_OPTIONS does not admit: --no-sparkplug turns off V8's baseline compiler, whose
# machine code for every warm function was ~2 MiB of a busy process on Node 20 (~1 MiB on Node 24);
# TurboFan still optimises the hot ones, and Probe, CreateVolume and the mixed calls measured no
# more CPU without it (design: Process footprint). `quarry --version` below fails the build if the
# image's node does not know a flag.
RUN printf '#!/bin/sh\nexec node --no-sparkplug /opt/quarry/dist/src/cli/main.js "$@"\n' > /usr/local/bin/quarry \
 && chmod 0755 /usr/local/bin/quarry \
 && quarry --version
LABEL org.opencontainers.image.title="quarry" \
      org.opencontainers.image.description="Quarry CSI driver" \
      org.opencontainers.image.source="https://github.com/quarry-csi/quarry" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/usr/local/bin/quarry"]
CMD ["--help"]
