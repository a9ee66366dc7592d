// The real host behind the services' HostOps port (design: Host port): each call goes straight to
// one host module, nothing added. Built once in serve.ts; unit tests use test/helpers/fake-host.ts.
import { describeProbe, probeDevice } from './blkid.js';
import { deviceSizeBytes } from './blockdev.js';
import { checkExt4, ext4SizeBytes, growExt4Offline } from './e2fs.js';
import { attachLoop, detachLoop, fileIdentity, findLoopsByBackingFile, refreshLoopCapacity } from './losetup.js';
import { loopBackedByDeletedImage, loopIsBackedBy, loopOfDeviceNode, loopOfMount } from './loop-sysfs.js';
import { makeFilesystem } from './mkfs.js';
import { bindMount, isBadOptionFailure, mount, optionNamedIn, unmountTop } from './mount.js';
import { mountsAt, mountsOfDevice, readMountInfo, topMountAt } from './mountinfo.js';
import { growFilesystem } from './resize.js';
import { filesystemStats } from './statfs.js';

export const realHost = {
  loops: {
    findByBackingFile: findLoopsByBackingFile,
    attach: attachLoop,
    detach: detachLoop,
    refreshCapacity: refreshLoopCapacity,
    fileIdentity,
    isBackedBy: loopIsBackedBy,
    backedByDeletedImage: loopBackedByDeletedImage,
    ofMount: loopOfMount,
    ofDeviceNode: loopOfDeviceNode,
  },
  mounts: {
    read: () => readMountInfo(),
    at: mountsAt,
    top: topMountAt,
    ofDevice: mountsOfDevice,
    mount,
    bind: bindMount,
    unmountTop: (target: string, expected: Parameters<typeof unmountTop>[1]) => unmountTop(target, expected),
    isBadOptionFailure,
    optionNamedIn,
  },
  filesystems: {
    probe: (device: string) => probeDevice(device),
    describeProbe,
    make: makeFilesystem,
    grow: (fsType: Parameters<typeof growFilesystem>[0], device: string, mountPath: string) => growFilesystem(fsType, device, mountPath),
    ext4SizeBytes,
    checkExt4: (device: string) => checkExt4(device),
    growExt4Offline: (device: string) => growExt4Offline(device),
    deviceSizeBytes,
    stats: filesystemStats,
  },
};
