import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { classifyProbe, parseBlkidExport } from '../../src/host/blkid.js';
import { parseLosetupJson } from '../../src/host/losetup.js';
import { checkMkfsOptions } from '../../src/host/mkfs.js';
import {
  escapeMountField,
  mountsAt,
  mountsOfDevice,
  mountsUnder,
  parseMountInfo,
  splitDev,
  unescapeMountField,
} from '../../src/host/mountinfo.js';

const SAMPLE = [
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
  '36 27 0:33 / /sys/fs/cgroup/devices rw,relatime shared:5 master:1 - cgroup cgroup rw,devices',
  '100 27 7:3 / /var/lib/quarry/stage\\040with\\040space rw,relatime shared:40 - xfs /dev/loop3 rw,attr2,inode64',
  '101 27 7:3 /sub\\011dir /pods/a\\134b/vol ro,nosuid,nodev,relatime shared:40 - xfs /dev/loop3 rw,attr2,inode64',
  '102 101 7:3 /sub\\011dir /pods/a\\134b/vol rw,relatime shared:40 - xfs /dev/loop3 rw,attr2,inode64',
  '103 27 0:45 / /pool/btr rw,relatime - btrfs /dev/loop4 rw,space_cache=v2,subvolid=5,subvol=/',
  '',
].join('\n');

test('mountinfo: fields, escapes, optional fields and bind mounts', () => {
  const e = parseMountInfo(SAMPLE);
  assert.equal(e.length, 6);
  assert.deepEqual(
    { ...e[0] },
    {
      mountId: 27,
      parentId: 1,
      major: 254,
      minor: 0,
      root: '/',
      mountPoint: '/',
      options: ['rw', 'relatime'],
      optionalFields: [],
      fsType: 'ext4',
      source: '/dev/vda',
      superOptions: ['rw', 'discard'],
    },
  );
  assert.deepEqual(e[1]!.optionalFields, ['shared:5', 'master:1']);
  assert.equal(e[2]!.mountPoint, '/var/lib/quarry/stage with space');
  assert.equal(e[3]!.root, '/sub\tdir');
  assert.equal(e[3]!.mountPoint, '/pods/a\\b/vol');
  assert.ok(e[3]!.options.includes('ro'));
  assert.equal(e[3]!.source, '/dev/loop3');
});

test('mountinfo: helpers over parsed entries', async () => {
  const e = parseMountInfo(SAMPLE);
  assert.deepEqual(
    (await mountsAt('/pods/a\\b/vol', e)).map((m) => m.mountId),
    [101, 102],
  );
  assert.deepEqual(
    (await mountsAt('/var/lib/quarry/stage with space', e)).map((m) => m.mountId),
    [100],
  );
  assert.equal((await mountsAt('/var/lib/quarry', e)).length, 0);
  assert.deepEqual(
    (await mountsOfDevice('7:3', e)).map((m) => m.mountId),
    [100, 101, 102],
  );
  // btrfs: anonymous dev number in mountinfo, found by source
  assert.deepEqual(
    (await mountsOfDevice('/dev/loop4', e)).map((m) => m.mountId),
    [103],
  );
  // a block publication: the device node bound onto a file shows devtmpfs rooted at the node's name
  const bind = parseMountInfo('104 25 0:5 /loop9 /pods/blk/dev rw,nosuid - devtmpfs udev rw,size=1k\n');
  assert.deepEqual(
    (await mountsOfDevice('/dev/loop9', bind)).map((m) => m.mountId),
    [104],
  );
  assert.deepEqual(
    (await mountsOfDevice('/dev/loop8', bind)).map((m) => m.mountId),
    [],
  );
  assert.deepEqual(
    (await mountsUnder('/pods', e)).map((m) => m.mountId),
    [101, 102],
  );
  assert.equal((await mountsUnder('/pod', e)).length, 0);
});

test('mountinfo: a malformed line is an error, not skipped', () => {
  assert.throws(() => parseMountInfo('garbage line\n'), QuarryError);
  assert.equal(unescapeMountField('a\\040b\\012c'), 'a b\nc');
});

test('mountinfo: a path escaped as the kernel writes it reads back the same, and only those four characters change', () => {
  const path = '/pods/a b\tc\nd\\e/vol-1_x.y';
  assert.equal(escapeMountField(path), '/pods/a\\040b\\011c\\012d\\134e/vol-1_x.y');
  assert.equal(unescapeMountField(escapeMountField(path)), path);
  assert.equal(parseMountInfo(SAMPLE)[2]!.mountPoint, unescapeMountField('/var/lib/quarry/stage\\040with\\040space'));
});

test('splitDev follows glibc', () => {
  assert.deepEqual(splitDev(0x0703n), { major: 7, minor: 3 });
  assert.deepEqual(splitDev((259n << 8n) | 0n), { major: 259, minor: 0 });
  // large minor: minor 300 on major 7 → low 8 bits + bits 20.. hold the rest
  const dev = (7n << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n);
  assert.deepEqual(splitDev(dev), { major: 7, minor: 300 });
});

test('losetup --json parsing, including deleted backing files', () => {
  const json = JSON.stringify({
    loopdevices: [
      { name: '/dev/loop0', sizelimit: 0, offset: 0, autoclear: false, ro: false, 'back-file': '/p/a b.img', dio: true, 'log-sec': 512 },
      {
        name: '/dev/loop1',
        sizelimit: 0,
        offset: 0,
        autoclear: false,
        ro: true,
        'back-file': '/p/b.img (deleted)',
        dio: false,
        'log-sec': 512,
      },
      { name: '/dev/loop2', sizelimit: null, offset: null, autoclear: false, ro: false, 'back-file': null, dio: false, 'log-sec': 512 },
    ],
  });
  const l = parseLosetupJson(json);
  assert.equal(l.length, 2);
  assert.deepEqual(l[0], {
    device: '/dev/loop0',
    backingFile: '/p/a b.img',
    backingFileDeleted: false,
    readOnly: false,
    directIo: true,
    offset: 0,
    sizeLimit: 0,
    autoclear: false,
  });
  assert.equal(l[1]!.backingFile, '/p/b.img');
  assert.equal(l[1]!.backingFileDeleted, true);
  assert.equal(l[1]!.readOnly, true);
  assert.deepEqual(parseLosetupJson(''), []);
});

test('losetup --json parsing keeps the backing device and a large inode exactly', () => {
  const text =
    '{"loopdevices":[{"name":"/dev/loop0","back-file":"/volumes/a.img","back-ino": 18446744073709551557,' +
    '"back-maj:min":"   254:0  ","ro":false,"dio":true,"offset":0,"sizelimit":0,"autoclear":false}]}';
  const [l] = parseLosetupJson(text);
  assert.deepEqual(l!.backing, { major: 254, minor: 0, inode: '18446744073709551557' });
  assert.equal(l!.backingFile, '/volumes/a.img');
});

test('blkid export parsing and classification', () => {
  assert.deepEqual(classifyProbe(parseBlkidExport('DEVNAME=/dev/loop0\nUUID=abc\nBLOCK_SIZE=4096\nTYPE=xfs\nUSAGE=filesystem\n')), {
    kind: 'filesystem',
    fsType: 'xfs',
    uuid: 'abc',
  });
  assert.deepEqual(classifyProbe(parseBlkidExport('DEVNAME=/dev/loop0\nPTUUID=x\nPTTYPE=gpt\n')), {
    kind: 'partition-table',
    ptType: 'gpt',
  });
  assert.deepEqual(classifyProbe(parseBlkidExport('DEVNAME=/dev/loop0\nTYPE=swap\nUSAGE=other\n')), {
    kind: 'other',
    type: 'swap',
    usage: 'other',
  });
  assert.deepEqual(classifyProbe(parseBlkidExport('DEVNAME=/dev/loop0\nTYPE=crypto_LUKS\nUSAGE=crypto\n')), {
    kind: 'other',
    type: 'crypto_LUKS',
    usage: 'crypto',
  });
  assert.deepEqual(classifyProbe(parseBlkidExport('DEVNAME=/dev/loop0\n')), { kind: 'blank' });
});

test('mkfs options: allow-list only', () => {
  checkMkfsOptions('ext4', ['-b', '4096']);
  checkMkfsOptions('xfs', ['-m', 'reflink=1']);
  checkMkfsOptions('btrfs', ['-L', 'data']);
  const bad: Array<[Parameters<typeof checkMkfsOptions>[0], string[]]> = [
    ['ext4', ['-O', '^has_journal']],
    ['ext4', ['-b', '8192']],
    ['ext4', ['-b']],
    ['xfs', ['-f', '1']],
    ['xfs', ['-m', 'reflink=1,crc=0']],
    ['btrfs', ['-L', 'x; rm -rf /']],
    ['ext4', ['toString', 'x']],
  ];
  for (const [fs, opts] of bad) {
    assert.throws(
      () => checkMkfsOptions(fs, opts),
      (e: unknown) => e instanceof QuarryError && e.code === Code.INVALID_ARGUMENT,
      `${fs} ${opts.join(' ')}`,
    );
  }
});

test('filefrag -v -b1: the unwritten extents as byte ranges, written and shared ones left out', async () => {
  const { parseUnwrittenRanges } = await import('../../src/host/filefrag.js');
  const out = [
    'Filesystem type is: 58465342',
    'File size of /p/f is 8388608 (8388608 blocks of 1 bytes)',
    ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
    '   0:        0..    4095:      98304..    102399:   4096:             unwritten',
    '   1:     4096..    8191:     102400..    106495:   4096:            ',
    '   2:     8192..   12287:     106496..    110591:   4096:             shared',
    '   3:    12288.. 8388607:     110592..   8486911: 8376320:             last,unwritten,eof',
    '/p/f: 1 extent found',
  ].join('\n');
  assert.deepEqual(parseUnwrittenRanges(out), [
    { offset: 0, length: 4096 },
    { offset: 12288, length: 8376320 },
  ]);
});

test('filefrag -v -b1: shared bytes and unwritten ranges are filters of one parsed map, expected column or not', async () => {
  const { parseExtentMap, sharedBytesOf, unwrittenRangesOf } = await import('../../src/host/filefrag.js');
  // Both flags on lines that carry the "expected" column, which the map parser must not mistake for flags.
  const out = [
    'Filesystem type is: 58465342',
    'File size of /p/f is 16384 (16384 blocks of 1 bytes)',
    ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
    '   0:        0..    4095:      98304..    102399:   4096:             shared',
    '   1:     4096..    8191:     200704..    204799:   4096:     102400: unwritten',
    '   2:     8192..   12287:     102400..    106495:   4096:     204800: shared,unwritten',
    '   3:    12288..   16383:     300000..    304095:   4096:     106496:',
    '/p/f: 4 extents found',
  ].join('\n');
  const extents = parseExtentMap(out);
  assert.equal(sharedBytesOf(extents), 8192);
  assert.deepEqual(unwrittenRangesOf(extents), [
    { offset: 4096, length: 4096 },
    { offset: 8192, length: 4096 },
  ]);
  assert.equal(sharedBytesOf([]), 0);
  assert.deepEqual(unwrittenRangesOf([]), []);
});
